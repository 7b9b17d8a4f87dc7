// simd_r_drive._native.DataStore: the store, with the extensions' functions as methods.
// The Python class simd_r_drive.DataStore derives from it and adds what is better
// written in Python (read_stream, pickling, the docstrings' examples).
//
// Lifetime and processes:
//  - close() ends the store: later calls raise StoreClosedError. Calls already running
//    in other threads finish first (close() waits for them, with the GIL released),
//    so when close() returns the file is closed and its lock released.
//  - Handles, views and iterators made before close() stay valid: they hold the
//    mapping, not the store.
//  - A forked child that calls its parent's store gets ForkedProcessError. The child
//    never destroys the store either: that would trim the parent's file, write its
//    index snapshot and close its descriptors under it. The object is left to the
//    child's exit.
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <simd_r_drive/data_store.h>
#include <simd_r_drive/error.h>
#include <simd_r_drive/extensions/extensions.h>
#include <simd_r_drive/hashing.h>
#include <simd_r_drive/options.h>

#include "common.h"

namespace srd_python {

namespace {

namespace ext = simd_r_drive::extensions;
using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::ValueBatch;

class PyDataStore;

// The store whose write_stream is calling back into Python on this thread, if any: a
// write to it from inside the callback would wait for the write lock the stream holds.
thread_local const PyDataStore* t_streaming_store = nullptr;

std::filesystem::path path_arg(py::handle path) {
  py::object encoded;
  try {
    encoded = py::module_::import("os").attr("fsencode")(path);
  } catch (py::error_already_set& error) {
    if (!error.matches(PyExc_TypeError)) throw;
    throw py::type_error("path must be str, bytes or os.PathLike, not " + type_name(path));
  }
  return std::filesystem::path(py::cast<std::string>(encoded));
}

py::str decode_path(const std::string& bytes) {
  PyObject* text = PyUnicode_DecodeFSDefaultAndSize(bytes.data(), static_cast<Py_ssize_t>(bytes.size()));
  if (text == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(text);
}

simd_r_drive::Durability durability_arg(py::handle value) {
  // Durability members are str subclasses whose value is the name.
  if (!PyUnicode_Check(value.ptr())) {
    throw py::type_error("durability must be a Durability or one of 'flush', 'sync_each_write', "
                         "'group_commit', 'sync_periodically', not " + type_name(value));
  }
  const std::string name = py::cast<std::string>(value);
  if (name == "flush") return simd_r_drive::Durability::kFlush;
  if (name == "sync_each_write") return simd_r_drive::Durability::kSyncEachWrite;
  if (name == "group_commit") return simd_r_drive::Durability::kGroupCommit;
  if (name == "sync_periodically") return simd_r_drive::Durability::kSyncPeriodically;
  throw py::value_error("durability must be one of 'flush', 'sync_each_write', 'group_commit', "
                        "'sync_periodically', not '" + name + "'");
}

const char* durability_name(simd_r_drive::Durability durability) {
  switch (durability) {
    case simd_r_drive::Durability::kFlush: return "flush";
    case simd_r_drive::Durability::kSyncEachWrite: return "sync_each_write";
    case simd_r_drive::Durability::kGroupCommit: return "group_commit";
    case simd_r_drive::Durability::kSyncPeriodically: return "sync_periodically";
  }
  return "flush";
}

// An int from 0 to 2**64 - 1; `kind` names what the int is in the TypeError.
std::uint64_t uint64_arg(py::handle value, const char* name, const char* kind) {
  if (!PyLong_Check(value.ptr())) {
    throw py::type_error(std::string(name) + " must be " + kind + ", not " + type_name(value));
  }
  const unsigned long long number = PyLong_AsUnsignedLongLong(value.ptr());
  if (number == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    PyErr_Clear();
    throw py::value_error(std::string(name) + " must be between 0 and 2**64 - 1");
  }
  return number;
}

std::uint64_t hash_arg(py::handle value, const char* name) {
  return uint64_arg(value, name, "an int (a 64-bit key hash)");
}

[[noreturn]] void raise_key_error(py::handle key) {
  PyErr_SetObject(PyExc_KeyError, key.ptr());
  throw py::error_already_set();
}

py::object optional_bytes(const std::optional<EntryHandle>& handle) {
  if (!handle) return py::none();
  return copy_to_bytes(ByteView(handle->as_slice()));
}

py::object optional_handle(std::optional<EntryHandle> handle) {
  if (!handle) return py::none();
  return wrap_handle(std::move(*handle));
}

// The keys of a batch, hashed. Keys that are bytes are hashed at once, with the GIL
// held, until they add up to kReleaseGilAbove bytes: that is cheaper than keeping a
// reference to each for later, and a batch's lookups release the GIL anyway. The rest
// (other buffer types, or keys past that size) are held as buffers and hashed by
// hash(), which runs with the GIL released.
struct KeyBatch {
  std::vector<std::uint64_t> hashes;
  std::vector<BufferArg> deferred;  // hashed by hash(), after `hashes`

  KeyBatch(py::handle keys, const char* name) {
    const py::list list = sequence_arg(keys, name);
    const std::size_t count = list.size();
    hashes.reserve(count);
    std::size_t hashed_bytes = 0;
    std::size_t i = 0;
    // The key objects lie wherever Python allocated them: fetch a few ahead, so that
    // their cache misses overlap.
    constexpr std::size_t kAhead = 8;
    for (; i < count; ++i) {
      if (i + kAhead < count) __builtin_prefetch(PyList_GET_ITEM(list.ptr(), static_cast<Py_ssize_t>(i + kAhead)));
      PyObject* key = PyList_GET_ITEM(list.ptr(), static_cast<Py_ssize_t>(i));
      if (!PyBytes_CheckExact(key)) break;
      const auto size = static_cast<std::size_t>(PyBytes_GET_SIZE(key));
      if (hashed_bytes + size > kReleaseGilAbove) break;
      hashed_bytes += size;
      hashes.push_back(DataStore::hash_key(ByteView(reinterpret_cast<const std::byte*>(PyBytes_AS_STRING(key)), size)));
    }
    if (i == count) return;
    const std::string item_name = std::string("each item of ") + name;
    deferred.reserve(count - i);
    for (; i < count; ++i) deferred.emplace_back(list[i], item_name.c_str());
  }
  std::size_t size() const noexcept { return hashes.size() + deferred.size(); }
  // Hashes the deferred keys; call with the GIL released.
  void hash() {
    for (const BufferArg& key : deferred) hashes.push_back(DataStore::hash_key(key.view()));
  }
};

// Results of a batch read as bytes (None for an absent key, an empty view). The copies
// of a large batch run with the GIL released: the bytes objects are made first, then
// filled.
py::list bytes_list(std::span<const ByteView> values) {
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(values.size()));
  if (list == nullptr) throw py::error_already_set();
  py::list out = py::reinterpret_steal<py::list>(list);
  std::size_t total = 0;
  for (const ByteView& value : values) total += value.size();
  const bool large = total >= kReleaseGilAbove;
  std::vector<char*> targets(large ? values.size() : 0, nullptr);
  for (std::size_t i = 0; i < values.size(); ++i) {
    PyObject* item;
    if (values[i].empty()) {
      item = Py_NewRef(Py_None);
    } else if (!large) {
      item = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(values[i].data()),
                                       static_cast<Py_ssize_t>(values[i].size()));
    } else {
      // Made empty here, filled below without the GIL.
      item = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(values[i].size()));
      if (item != nullptr) targets[i] = PyBytes_AS_STRING(item);
    }
    if (item == nullptr) throw py::error_already_set();
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);  // steals the reference
  }
  if (large) {
    py::gil_scoped_release release;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (targets[i] != nullptr) std::memcpy(targets[i], values[i].data(), values[i].size());
    }
  }
  return out;
}

class PyDataStore {
 public:
  PyDataStore(py::handle path, bool read_only, py::handle durability, double sync_interval, bool must_exist,
              bool repair_unrecoverable, py::handle index_snapshot_min_keys, py::handle address_space_reservation)
      : owner_pid_(current_pid()) {
    options_.read_only = read_only;
    options_.durability = durability_arg(durability);
    if (!(sync_interval > 0) || sync_interval > 86400.0) {
      throw py::value_error("sync_interval must be a number of seconds above 0 (at most a day)");
    }
    options_.sync_interval = std::chrono::milliseconds(std::max<long long>(1, static_cast<long long>(sync_interval * 1000)));
    options_.must_exist = must_exist;
    options_.repair_unrecoverable = repair_unrecoverable;
    if (index_snapshot_min_keys.is_none()) {
      options_.index_snapshot_min_keys = std::numeric_limits<std::size_t>::max();
    } else {
      options_.index_snapshot_min_keys =
          static_cast<std::size_t>(uint64_arg(index_snapshot_min_keys, "index_snapshot_min_keys", "an int (a count of keys) or None"));
    }
    options_.address_space_reservation =
        uint64_arg(address_space_reservation, "address_space_reservation", "an int (a number of bytes)");
    given_path_ = py::reinterpret_borrow<py::object>(path);
    const std::filesystem::path file = path_arg(path);
    {
      py::gil_scoped_release release;  // recovery reads the whole chain
      store_ = std::make_shared<DataStore>(DataStore::open(file, options_));
    }
  }

  PyDataStore(const PyDataStore&) = delete;
  PyDataStore& operator=(const PyDataStore&) = delete;

  ~PyDataStore() {
    if (!store_) return;
    if (owner_pid_ != current_pid()) {
      // A forked child: the store belongs to the parent (see the top of this file).
      new std::shared_ptr<DataStore>(std::move(store_));
      return;
    }
    if (PyGILState_Check() != 0 && !_Py_IsFinalizing()) {
      // Closing trims the file and may save the index snapshot: let other threads run.
      py::gil_scoped_release release;
      store_.reset();
    } else {
      store_.reset();
    }
  }

  // The store, for a call that keeps the GIL (close() cannot run meanwhile).
  DataStore& held() const {
    check();
    return *store_;
  }
  // A reference to the store for a call that releases the GIL: close() waits for it.
  std::shared_ptr<DataStore> shared() const {
    check();
    return store_;
  }
  // As shared(), for a call that writes.
  std::shared_ptr<DataStore> writer() const {
    check();
    if (t_streaming_store == this) {
      throw py::value_error("cannot change a store from inside its own write_stream source: the stream holds "
                            "the store's write lock until it ends");
    }
    return store_;
  }

  void close() {
    if (!store_) return;
    if (owner_pid_ != current_pid()) {
      new std::shared_ptr<DataStore>(std::move(store_));  // the parent's (see above)
      return;
    }
    if (t_streaming_store == this) {
      throw py::value_error("cannot close a store from inside its own write_stream source");
    }
    std::shared_ptr<DataStore> last = std::move(store_);
    py::gil_scoped_release release;
    // Calls running in other threads hold a reference until they return.
    while (last.use_count() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    last.reset();
  }

  bool closed() const noexcept { return !store_; }
  const py::object& given_path() const noexcept { return given_path_; }
  const simd_r_drive::OpenOptions& options() const noexcept { return options_; }
  pid_t owner_pid() const noexcept { return owner_pid_; }

  // ---- writes ------------------------------------------------------------------
  std::uint64_t write(py::handle key, py::handle value) {
    BufferArg k(key, "key");
    BufferArg v(value, "value");
    auto store = writer();
    py::gil_scoped_release release;
    return store->write(k.view(), v.view());
  }

  std::uint64_t write_with_key_hash(py::handle key_hash, py::handle value) {
    const std::uint64_t hash = hash_arg(key_hash, "key_hash");
    BufferArg v(value, "value");
    auto store = writer();
    py::gil_scoped_release release;
    return store->write_with_key_hash(hash, v.view());
  }

  std::uint64_t batch_write(py::handle items) {
    const py::list list = sequence_arg(items, "items");
    std::vector<BufferArg> buffers;
    buffers.reserve(list.size() * 2);
    for (py::handle item : list) {
      pair_of(item, "items", buffers);
    }
    auto store = writer();
    py::gil_scoped_release release;
    std::vector<simd_r_drive::HashedPayload> hashed;
    hashed.reserve(list.size());
    for (std::size_t i = 0; i + 1 < buffers.size(); i += 2) {
      hashed.push_back({DataStore::hash_key(buffers[i].view()), buffers[i + 1].view()});
    }
    return store->batch_write_with_key_hashes(hashed, false);
  }

  std::uint64_t batch_write_with_key_hashes(py::handle items, bool allow_null_bytes) {
    const py::list list = sequence_arg(items, "items");
    std::vector<std::uint64_t> hashes;
    std::vector<BufferArg> values;
    hashes.reserve(list.size());
    values.reserve(list.size());
    for (py::handle item : list) {
      const py::tuple pair = pair_tuple(item, "items");
      hashes.push_back(hash_arg(pair[0], "the key hash of an item of items"));
      values.emplace_back(pair[1], "the value of an item of items");
    }
    auto store = writer();
    py::gil_scoped_release release;
    std::vector<simd_r_drive::HashedPayload> hashed;
    hashed.reserve(hashes.size());
    for (std::size_t i = 0; i < hashes.size(); ++i) hashed.push_back({hashes[i], values[i].view()});
    return store->batch_write_with_key_hashes(hashed, allow_null_bytes);
  }

  std::uint64_t write_stream(py::handle key, py::handle reader) {
    BufferArg k(key, "key");
    py::object readinto = py::getattr(reader, "readinto", py::none());
    py::object read = py::getattr(reader, "read", py::none());
    if (readinto.is_none() && read.is_none()) {
      throw py::type_error("reader must have a readinto(buffer) or read(n) method (a binary file object), not " +
                           type_name(reader));
    }
    auto store = writer();
    std::optional<py::error_already_set> python_error;
    py::object scratch;  // pull_readinto's bytearray, made on first use
    struct SourceFailed {};
    const simd_r_drive::StreamReader source = [&](std::span<std::byte> buffer) -> std::size_t {
      py::gil_scoped_acquire gil;
      const PyDataStore* outer = t_streaming_store;
      t_streaming_store = this;
      try {
        const std::size_t count = readinto.is_none() ? pull_read(read, buffer) : pull_readinto(readinto, scratch, buffer);
        t_streaming_store = outer;
        return count;
      } catch (py::error_already_set& error) {
        t_streaming_store = outer;
        python_error.emplace(std::move(error));
      } catch (const py::builtin_exception& error) {
        t_streaming_store = outer;
        error.set_error();
        python_error.emplace();
      }
      throw SourceFailed{};
    };
    try {
      py::gil_scoped_release release;
      return store->write_stream(k.view(), source);
    } catch (const SourceFailed&) {
      // (scratch and python_error are released below, with the GIL held again.)
      python_error->restore();
      throw py::error_already_set();
    }
  }

  // ---- reads ---------------------------------------------------------------------
  // The key's value as bytes, or a null object if the key is absent. A small value is
  // copied in place (read_view: no handle, no reference count on the mapping, and no
  // Python code can run meanwhile: a bytes object is not tracked by the garbage
  // collector). A large one is copied through a handle, with the GIL released, as
  // another thread may then close the store.
  py::object copy_out(ByteView key) const {
    const DataStore& store = held();
    PyObject* out = nullptr;
    bool large = false;
    const bool found = store.read_view(key, [&](ByteView value) {
      if (value.size() >= kReleaseGilAbove) {
        large = true;
        return;
      }
      out = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(value.data()),
                                      static_cast<Py_ssize_t>(value.size()));
    });
    if (!found) return py::object();
    if (large) {
      auto handle = store.read(key);
      return handle ? py::object(copy_to_bytes(ByteView(handle->as_slice()))) : py::object();
    }
    if (out == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(out);
  }
  py::object read(py::handle key) const {
    BufferArg k(key, "key");
    py::object value = copy_out(k.view());
    return value ? value : py::none();
  }
  py::object read_entry(py::handle key) const {
    BufferArg k(key, "key");
    return optional_handle(held().read(k.view()));
  }
  py::object read_with_key_hash(py::handle key_hash) const {
    return optional_bytes(held().read_with_key_hash(hash_arg(key_hash, "key_hash")));
  }
  py::object read_entry_with_key_hash(py::handle key_hash) const {
    return optional_handle(held().read_with_key_hash(hash_arg(key_hash, "key_hash")));
  }
  py::object get(py::handle key, py::handle fallback) const {
    BufferArg k(key, "key");
    py::object value = copy_out(k.view());
    return value ? value : py::reinterpret_borrow<py::object>(fallback);
  }
  py::object getitem(py::handle key) const {
    BufferArg k(key, "key");
    py::object value = copy_out(k.view());
    if (!value) raise_key_error(key);
    return value;
  }

  std::vector<std::optional<EntryHandle>> lookup_batch(py::handle keys) const {
    KeyBatch batch(keys, "keys");
    auto store = shared();
    py::gil_scoped_release release;
    batch.hash();
    return store->batch_read_hashed_keys(batch.hashes);
  }
  // The values copied out as bytes: one pin for the batch (ValueBatch) instead of a
  // handle per key.
  py::list batch_read(py::handle keys) const {
    KeyBatch batch(keys, "keys");
    auto store = shared();
    ValueBatch values;
    {
      py::gil_scoped_release release;
      batch.hash();
      values = store->batch_read_views_hashed_keys(batch.hashes);
    }
    return bytes_list(values.views());
  }
  py::list batch_read_entries(py::handle keys) const {
    std::vector<std::optional<EntryHandle>> handles = lookup_batch(keys);
    py::list out(handles.size());
    for (std::size_t i = 0; i < handles.size(); ++i) out[i] = optional_handle(std::move(handles[i]));
    return out;
  }
  py::list batch_read_hashed_keys(py::handle key_hashes, py::handle keys) const {
    const py::list hash_list = sequence_arg(key_hashes, "key_hashes");
    std::vector<std::uint64_t> hashes;
    hashes.reserve(hash_list.size());
    for (py::handle hash : hash_list) hashes.push_back(hash_arg(hash, "each item of key_hashes"));
    std::optional<KeyBatch> batch;
    if (!keys.is_none()) {
      batch.emplace(keys, "keys");
      if (batch->size() != hashes.size()) {
        throw py::value_error("key_hashes and keys must be of equal length (" + std::to_string(hashes.size()) +
                              " and " + std::to_string(batch->size()) + ")");
      }
    }
    auto store = shared();
    ValueBatch values;
    std::vector<ByteView> checked;
    {
      py::gil_scoped_release release;
      values = store->batch_read_views_hashed_keys(hashes);
      if (batch) {
        // A hash that is not its key's hash reads as absent (as DataStore's
        // batch_read_hashed_keys with keys).
        batch->hash();
        checked.assign(values.views().begin(), values.views().end());
        for (std::size_t i = 0; i < checked.size(); ++i) {
          if (batch->hashes[i] != hashes[i]) checked[i] = ByteView();
        }
      }
    }
    return bytes_list(batch ? std::span<const ByteView>(checked) : values.views());
  }

  py::object read_metadata(py::handle key) const {
    BufferArg k(key, "key");
    auto metadata = held().read_metadata(k.view());
    if (!metadata) return py::none();
    return py::cast(*metadata);
  }
  py::object read_last_entry() const { return optional_handle(held().read_last_entry()); }

  bool exists(py::handle key) const {
    BufferArg k(key, "key");
    return held().exists(k.view());
  }
  bool exists_with_key_hash(py::handle key_hash) const {
    return held().exists_with_key_hash(hash_arg(key_hash, "key_hash"));
  }

  // ---- deletes and moves -----------------------------------------------------------
  std::uint64_t remove(py::handle key) {
    BufferArg k(key, "key");
    auto store = writer();
    py::gil_scoped_release release;
    return store->remove(k.view());
  }
  void delitem(py::handle key) {
    BufferArg k(key, "key");
    auto store = writer();
    if (!store->exists(k.view())) raise_key_error(key);
    py::gil_scoped_release release;
    store->remove(k.view());
  }
  std::uint64_t batch_delete(py::handle keys) {
    KeyBatch batch(keys, "keys");
    auto store = writer();
    py::gil_scoped_release release;
    batch.hash();
    return store->batch_remove_key_hashes(batch.hashes);
  }
  std::uint64_t batch_delete_key_hashes(py::handle key_hashes) {
    const py::list list = sequence_arg(key_hashes, "key_hashes");
    std::vector<std::uint64_t> hashes;
    hashes.reserve(list.size());
    for (py::handle hash : list) hashes.push_back(hash_arg(hash, "each item of key_hashes"));
    auto store = writer();
    py::gil_scoped_release release;
    return store->batch_remove_key_hashes(hashes);
  }
  std::uint64_t rename(py::handle old_key, py::handle new_key) {
    BufferArg a(old_key, "old_key");
    BufferArg b(new_key, "new_key");
    auto store = writer();
    py::gil_scoped_release release;
    return store->rename(a.view(), b.view());
  }
  std::uint64_t copy(py::handle key, PyDataStore& target) const {
    BufferArg k(key, "key");
    auto source = shared();
    auto destination = target.writer();
    py::gil_scoped_release release;
    return source->copy(k.view(), *destination);
  }
  std::uint64_t transfer(py::handle key, PyDataStore& target) {
    BufferArg k(key, "key");
    auto source = writer();
    auto destination = target.writer();
    py::gil_scoped_release release;
    return source->transfer(k.view(), *destination);
  }

  // ---- maintenance -----------------------------------------------------------------
  template <class F>
  auto released(F&& body, bool writes) {
    auto store = writes ? writer() : shared();
    py::gil_scoped_release release;
    return body(*store);
  }

  // ---- the extensions ----------------------------------------------------------------
  std::uint64_t write_with_ttl(py::handle key, py::handle value, py::handle ttl_secs) {
    BufferArg k(key, "key");
    BufferArg v(value, "value");
    std::uint64_t ttl = ext::kNeverExpires;
    if (!ttl_secs.is_none()) {
      if (!PyLong_Check(ttl_secs.ptr()) || PyBool_Check(ttl_secs.ptr())) {
        throw py::type_error("ttl_secs must be an int (whole seconds) or None (never expires), not " +
                             type_name(ttl_secs));
      }
      const unsigned long long seconds = PyLong_AsUnsignedLongLong(ttl_secs.ptr());
      if (seconds == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        throw py::value_error("ttl_secs must be between 0 and 2**64 - 1");
      }
      ttl = seconds;
    }
    auto store = writer();
    py::gil_scoped_release release;
    return ext::write_with_ttl(*store, k.view(), v.view(), ttl);
  }
  py::object read_with_ttl(py::handle key) const {
    BufferArg k(key, "key");
    std::optional<ext::EntryValue> value;
    {
      auto store = shared();
      py::gil_scoped_release release;
      value = ext::read_with_ttl(*store, k.view());
    }
    if (!value) return py::none();
    return copy_to_bytes(value->view());
  }
  py::object ttl_remaining(py::handle key) const {
    BufferArg k(key, "key");
    ext::TtlRemaining remaining;
    {
      auto store = shared();
      py::gil_scoped_release release;
      remaining = ext::ttl_remaining(*store, k.view());
    }
    switch (remaining.state) {
      case ext::TtlRemaining::State::kAbsent: return py::none();
      case ext::TtlRemaining::State::kNoExpiry: return py::float_(std::numeric_limits<double>::infinity());
      case ext::TtlRemaining::State::kExpiresIn: return py::int_(remaining.seconds);
    }
    return py::none();
  }
  bool delete_with_ttl(py::handle key) {
    BufferArg k(key, "key");
    auto store = writer();
    py::gil_scoped_release release;
    return ext::remove_with_ttl(*store, k.view());
  }
  std::uint64_t write_option(py::handle key, py::handle value) {
    BufferArg k(key, "key");
    std::optional<BufferArg> v;
    if (!value.is_none()) v.emplace(value, "value");
    auto store = writer();
    py::gil_scoped_release release;
    return ext::write_option(*store, k.view(), v ? std::optional<ByteView>(v->view()) : std::nullopt);
  }
  py::object read_option(py::handle key, py::handle fallback, py::handle missing) const {
    BufferArg k(key, "key");
    std::optional<std::optional<ext::EntryValue>> value;
    {
      auto store = shared();
      py::gil_scoped_release release;
      value = ext::read_option(*store, k.view());
    }
    if (!value) {
      if (fallback.is(missing)) raise_key_error(key);
      return py::reinterpret_borrow<py::object>(fallback);
    }
    if (!*value) return py::none();
    return copy_to_bytes((*value)->view());
  }
  ext::ImportReport import_dir(py::handle dir, py::handle name_space, const std::string& symlinks) {
    const std::filesystem::path directory = path_arg(dir);
    ext::ImportOptions options;
    if (!name_space.is_none()) {
      BufferArg ns(name_space, "namespace");
      options.name_space = std::string(ns.view().as_string_view());
    }
    if (symlinks == "skip") {
      options.symlinks = ext::SymlinkPolicy::kSkip;
    } else if (symlinks == "follow_files") {
      options.symlinks = ext::SymlinkPolicy::kFollowFiles;
    } else if (symlinks == "follow_all") {
      options.symlinks = ext::SymlinkPolicy::kFollowAll;
    } else {
      throw py::value_error("symlinks must be 'skip', 'follow_files' or 'follow_all', not '" + symlinks + "'");
    }
    auto store = writer();
    py::gil_scoped_release release;
    return ext::import_dir_recursively(*store, directory, options);
  }
  py::object read_file_entry(py::handle relative_path, py::handle name_space) const {
    const std::string path = py::cast<std::string>(py::module_::import("os").attr("fsencode")(relative_path));
    std::optional<BufferArg> ns;
    if (!name_space.is_none()) ns.emplace(name_space, "namespace");
    return optional_handle(ext::read_file_entry(held(), path, ns ? std::optional<ByteView>(ns->view()) : std::nullopt));
  }

 private:
  void check() const {
    if (!store_) raise_module_error("closed", "the store is closed");
    if (owner_pid_ != current_pid()) {
      raise_module_error("forked", "this store was opened by process " + std::to_string(owner_pid_) +
                                       ", and this is process " + std::to_string(current_pid()) +
                                       " (a fork): open the store again in this process");
    }
  }

  static py::tuple pair_tuple(py::handle item, const char* name) {
    PyObject* sequence = PySequence_Fast(item.ptr(), "");
    if (sequence == nullptr || PySequence_Fast_GET_SIZE(sequence) != 2) {
      Py_XDECREF(sequence);
      PyErr_Clear();
      throw py::type_error(std::string("each item of ") + name + " must be a (key, value) pair, not " +
                           type_name(item));
    }
    py::tuple pair(2);
    pair[0] = py::reinterpret_borrow<py::object>(PySequence_Fast_GET_ITEM(sequence, 0));
    pair[1] = py::reinterpret_borrow<py::object>(PySequence_Fast_GET_ITEM(sequence, 1));
    Py_DECREF(sequence);
    return pair;
  }
  static void pair_of(py::handle item, const char* name, std::vector<BufferArg>& out) {
    if (PyTuple_CheckExact(item.ptr()) && PyTuple_GET_SIZE(item.ptr()) == 2) {
      out.emplace_back(PyTuple_GET_ITEM(item.ptr(), 0), "the key of an item of items");
      out.emplace_back(PyTuple_GET_ITEM(item.ptr(), 1), "the value of an item of items");
      return;
    }
    const py::tuple pair = pair_tuple(item, name);
    out.emplace_back(pair[0], "the key of an item of items");
    out.emplace_back(pair[1], "the value of an item of items");
  }

  // The reader fills a bytearray of ours, which is then copied into the engine's
  // buffer: a reader may keep a view of what it was given (a memoryview, a cast of it)
  // for as long as it likes, and a view of the engine's own buffer would dangle once
  // the stream ends. The copy costs far less than the Python call around it.
  static std::size_t pull_readinto(const py::object& readinto, py::object& scratch, std::span<std::byte> buffer) {
    if (!scratch || static_cast<std::size_t>(PyByteArray_GET_SIZE(scratch.ptr())) < buffer.size()) {
      scratch = py::reinterpret_steal<py::object>(
          PyByteArray_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(buffer.size())));
      if (!scratch) throw py::error_already_set();
    }
    py::object target = scratch;
    if (static_cast<std::size_t>(PyByteArray_GET_SIZE(scratch.ptr())) != buffer.size()) {
      target = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(scratch.ptr()))[
          py::slice(0, static_cast<py::ssize_t>(buffer.size()), 1)];
    }
    py::object result = readinto(target);
    if (result.is_none()) {
      throw py::value_error("reader.readinto() returned None (a non-blocking stream without data): "
                            "write_stream needs a blocking reader");
    }
    const auto count = py::cast<std::size_t>(result);
    if (count > buffer.size()) throw py::value_error("reader.readinto() claims more bytes than the buffer holds");
    std::memcpy(buffer.data(), PyByteArray_AS_STRING(scratch.ptr()), count);
    return count;
  }
  static std::size_t pull_read(const py::object& read, std::span<std::byte> buffer) {
    py::object chunk = read(buffer.size());
    if (chunk.is_none()) {
      throw py::value_error("reader.read() returned None (a non-blocking stream without data): "
                            "write_stream needs a blocking reader");
    }
    BufferArg data(chunk, "what reader.read() returned");
    if (data.view().size() > buffer.size()) {
      throw py::value_error("reader.read(n) returned more than n bytes");
    }
    std::memcpy(buffer.data(), data.view().data(), data.view().size());
    return data.view().size();
  }

  std::shared_ptr<DataStore> store_;
  pid_t owner_pid_;
  simd_r_drive::OpenOptions options_;
  py::object given_path_;
};

// Iteration over the live entries, newest first. The engine's iterator is driven in
// chunks with the GIL released; each entry then becomes an EntryHandle object.
class PyEntryIterator {
 public:
  explicit PyEntryIterator(const PyDataStore& owner) {
    auto store = owner.shared();
    py::gil_scoped_release release;
    // The range holds the generation it reads, not the store: it outlives close().
    range_.emplace(store->iter_entries());
    it_ = range_->begin();
  }

  py::object next() {
    if (next_ == chunk_.size()) {
      if (done_) throw py::stop_iteration();
      if (busy_) throw py::value_error("this iterator is being advanced by another thread");
      busy_ = true;
      chunk_.clear();
      next_ = 0;
      try {
        py::gil_scoped_release release;
        while (chunk_.size() < kChunk && !(it_ == std::default_sentinel)) {
          chunk_.push_back(*it_);
          ++it_;
        }
        done_ = it_ == std::default_sentinel;
      } catch (...) {
        busy_ = false;
        throw;
      }
      busy_ = false;
      if (chunk_.empty()) throw py::stop_iteration();
    }
    return wrap_handle(std::move(chunk_[next_++]));
  }

 private:
  static constexpr std::size_t kChunk = 256;
  std::optional<simd_r_drive::EntryRange> range_;
  simd_r_drive::EntryIterator it_;
  std::vector<EntryHandle> chunk_;
  std::size_t next_ = 0;
  bool done_ = false;
  bool busy_ = false;
};

// DataStore.values(): every live value as bytes, newest first. A plain CPython
// iterator type (its tp_iternext is called straight from a for loop), over chunks the
// engine's iterator fills with the GIL released. For small values a copy into bytes
// costs less than a handle object; iterate the store itself for zero-copy handles.
struct ValuesState {
  std::optional<simd_r_drive::EntryRange> range;
  simd_r_drive::EntryIterator it;
  // Views into the mapping, which the iteration state (in `it`) pins.
  std::vector<std::pair<const std::byte*, std::size_t>> chunk;
  std::size_t next = 0;
  bool done = false;
  bool busy = false;
};

struct ValuesIterator {
  PyObject_HEAD
  ValuesState* state;
};

PyTypeObject* g_values_type = nullptr;

extern "C" void values_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  delete reinterpret_cast<ValuesIterator*>(self)->state;
  type->tp_free(self);
  Py_DECREF(type);
}

extern "C" PyObject* values_next(PyObject* self) {
  ValuesState& state = *reinterpret_cast<ValuesIterator*>(self)->state;
  if (state.next == state.chunk.size()) {
    if (state.done) return nullptr;  // the end (no exception set: StopIteration)
    if (state.busy) {
      PyErr_SetString(PyExc_ValueError, "this iterator is being advanced by another thread");
      return nullptr;
    }
    state.busy = true;
    state.chunk.clear();
    state.next = 0;
    std::string failure;
    Py_BEGIN_ALLOW_THREADS
    try {
      while (state.chunk.size() < 1024 && !(state.it == std::default_sentinel)) {
        const EntryHandle& entry = *state.it;
        state.chunk.emplace_back(entry.data(), entry.size());
        ++state.it;
      }
      state.done = state.it == std::default_sentinel;
    } catch (const std::exception& error) {
      failure = error.what();
      state.done = true;
    }
    Py_END_ALLOW_THREADS
    state.busy = false;
    if (!failure.empty()) {
      PyErr_SetString(PyExc_RuntimeError, failure.c_str());
      return nullptr;
    }
    if (state.chunk.empty()) return nullptr;
  }
  const auto [data, size] = state.chunk[state.next++];
  if (size < kReleaseGilAbove) {
    return PyBytes_FromStringAndSize(reinterpret_cast<const char*>(data), static_cast<Py_ssize_t>(size));
  }
  try {
    return copy_to_bytes(ByteView(data, size)).release().ptr();
  } catch (py::error_already_set& error) {
    error.restore();
    return nullptr;
  }
}

py::object make_values_iterator(const PyDataStore& owner) {
  auto state = std::make_unique<ValuesState>();
  {
    auto store = owner.shared();
    py::gil_scoped_release release;
    state->range.emplace(store->iter_entries());
    state->it = state->range->begin();
  }
  auto* iterator = PyObject_New(ValuesIterator, g_values_type);
  if (iterator == nullptr) throw py::error_already_set();
  iterator->state = state.release();
  return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(iterator));
}

void make_values_type(py::module_& m) {
  static PyType_Slot slots[] = {
      {Py_tp_dealloc, reinterpret_cast<void*>(&values_dealloc)},
      {Py_tp_iter, reinterpret_cast<void*>(&PyObject_SelfIter)},
      {Py_tp_iternext, reinterpret_cast<void*>(&values_next)},
      {Py_tp_doc, const_cast<char*>("The live values of a store as bytes, newest first (DataStore.values()).")},
      {0, nullptr},
  };
  static PyType_Spec spec = {"simd_r_drive.ValuesIterator", sizeof(ValuesIterator), 0, Py_TPFLAGS_DEFAULT, slots};
  PyObject* type = PyType_FromSpec(&spec);
  if (type == nullptr) throw py::error_already_set();
  g_values_type = reinterpret_cast<PyTypeObject*>(type);
  m.add_object("ValuesIterator", py::handle(type));
}

py::dict stats_dict(const simd_r_drive::StoreStats& stats) {
  py::dict out;
  out["file_size"] = stats.file_size;
  out["entries"] = stats.entries;
  out["live_keys"] = stats.live_keys;
  out["tombstones"] = stats.tombstones;
  out["stale_entries"] = stats.stale_entries;
  out["live_payload_bytes"] = stats.live_payload_bytes;
  out["reclaimable_bytes"] = stats.reclaimable_bytes;
  return out;
}

void bind_reports(py::module_& m) {
  using simd_r_drive::CorruptEntry;
  using simd_r_drive::StoreStats;
  using simd_r_drive::VerifyReport;
  py::class_<StoreStats>(m, "StoreStats", "What a store holds, by kind of record (DataStore.stats()).")
      .def_readonly("file_size", &StoreStats::file_size, "The store's tail: its length when closed.")
      .def_readonly("entries", &StoreStats::entries, "Records on the chain, tombstones included.")
      .def_readonly("live_keys", &StoreStats::live_keys, "Keys with a current value.")
      .def_readonly("tombstones", &StoreStats::tombstones, "Delete markers.")
      .def_readonly("stale_entries", &StoreStats::stale_entries,
                    "Older values of keys written again, and values of deleted keys.")
      .def_readonly("live_payload_bytes", &StoreStats::live_payload_bytes, "Bytes of the live values.")
      .def_readonly("reclaimable_bytes", &StoreStats::reclaimable_bytes, "What compact() would free now (exact).")
      .def("_asdict", &stats_dict)
      .def("__repr__", [](const StoreStats& stats) { return "StoreStats(" + py::str(stats_dict(stats)).cast<std::string>() + ")"; });
  py::class_<CorruptEntry>(m, "CorruptEntry", "An entry whose value does not match its stored checksum.")
      .def_readonly("metadata_offset", &CorruptEntry::metadata_offset)
      .def_readonly("payload_offset", &CorruptEntry::payload_offset)
      .def_readonly("payload_size", &CorruptEntry::payload_size)
      .def_readonly("key_hash", &CorruptEntry::key_hash)
      .def_readonly("stored_checksum", &CorruptEntry::stored_checksum)
      .def_readonly("computed_checksum", &CorruptEntry::computed_checksum)
      .def("__repr__", [](const CorruptEntry& entry) {
        return "CorruptEntry(metadata_offset=" + std::to_string(entry.metadata_offset) +
               ", payload_size=" + std::to_string(entry.payload_size) + ")";
      });
  py::class_<VerifyReport>(m, "VerifyReport", "What DataStore.verify() found; it never changes the file.")
      .def_property_readonly("ok", &VerifyReport::ok, "The chain is intact, every checksum matches, no garbage.")
      .def_readonly("file_size", &VerifyReport::file_size)
      .def_readonly("entries", &VerifyReport::entries)
      .def_readonly("tombstones", &VerifyReport::tombstones)
      .def_readonly("live_keys", &VerifyReport::live_keys)
      .def_readonly("bytes_checked", &VerifyReport::bytes_checked)
      .def_readonly("chain_intact", &VerifyReport::chain_intact)
      .def_readonly("chain_error", &VerifyReport::chain_error)
      .def_readonly("corrupt_entries", &VerifyReport::corrupt_entries)
      .def_readonly("trailing_bytes", &VerifyReport::trailing_bytes)
      .def_readonly("writer_active", &VerifyReport::writer_active)
      .def_readonly("trailing_bytes_damaged", &VerifyReport::trailing_bytes_damaged)
      .def("__bool__", &VerifyReport::ok)
      .def("__repr__", [](const VerifyReport& report) {
        return std::string("VerifyReport(ok=") + (report.ok() ? "True" : "False") +
               ", entries=" + std::to_string(report.entries) + ", corrupt_entries=" +
               std::to_string(report.corrupt_entries.size()) + ")";
      });

  py::class_<ext::ImportedFile>(m, "ImportedFile", "A file import_dir_recursively stored.")
      .def_property_readonly("key", [](const ext::ImportedFile& file) { return decode_path(file.key); },
                             "Its path relative to the imported directory, '/' between parts.")
      .def_property_readonly("stored_key",
                             [](const ext::ImportedFile& file) {
                               return py::bytes(reinterpret_cast<const char*>(file.stored_key.data()),
                                                file.stored_key.size());
                             },
                             "The key in the store: the path's bytes, or its 16-byte namespaced key.")
      .def_property_readonly("path", [](const ext::ImportedFile& file) { return decode_path(file.path.string()); })
      .def_readonly("size", &ext::ImportedFile::size)
      .def_readonly("tail", &ext::ImportedFile::tail)
      .def("__repr__", [](const ext::ImportedFile& file) {
        return "ImportedFile(key=" + py::repr(decode_path(file.key)).cast<std::string>() +
               ", size=" + std::to_string(file.size) + ")";
      });
  py::class_<ext::SkippedFile>(m, "SkippedFile", "A file import_dir_recursively skipped, and why.")
      .def_property_readonly("path", [](const ext::SkippedFile& file) { return decode_path(file.path.string()); })
      .def_property_readonly("key", [](const ext::SkippedFile& file) { return decode_path(file.key); })
      .def_property_readonly("reason", [](const ext::SkippedFile& file) { return std::string(ext::to_string(file.reason)); },
                             "'symbolic_link', 'loop', 'not_regular_file', 'store_file', 'empty', 'all_zero' or "
                             "'unreadable'.")
      .def_readonly("detail", &ext::SkippedFile::detail)
      .def("__repr__", [](const ext::SkippedFile& file) {
        return "SkippedFile(key=" + py::repr(decode_path(file.key)).cast<std::string>() + ", reason='" +
               std::string(ext::to_string(file.reason)) + "')";
      });
  py::class_<ext::ImportReport>(m, "ImportReport", "What import_dir_recursively imported and skipped.")
      .def_readonly("imported", &ext::ImportReport::imported, "ImportedFile for each file, in key order.")
      .def_readonly("skipped", &ext::ImportReport::skipped, "SkippedFile for each file left out.")
      .def_readonly("imported_bytes", &ext::ImportReport::imported_bytes)
      .def("__repr__", [](const ext::ImportReport& report) {
        return "ImportReport(imported=" + std::to_string(report.imported.size()) +
               " files, skipped=" + std::to_string(report.skipped.size()) +
               ", imported_bytes=" + std::to_string(report.imported_bytes) + ")";
      });
}

}  // namespace

// ---- fast paths ---------------------------------------------------------------------
// The single-key lookups are what a Python loop calls millions of times, and pybind11's
// generic dispatch costs more than the lookup itself. These few are plain METH_FASTCALL
// functions on the same class instead; they follow the rules above (the GIL is kept:
// a lookup takes no lock).

PyDataStore* store_of(PyObject* self) {
  auto* instance = reinterpret_cast<py::detail::instance*>(self);
  auto* store = static_cast<PyDataStore*>(instance->get_value_and_holder().value_ptr());
  if (store == nullptr) throw py::type_error("DataStore.__init__ was not called");
  return store;
}

// The one argument `name` of a call, positional or by keyword; `fallback` (may be
// null: required) for a second, optional one named `second`.
struct Arguments {
  PyObject* first = nullptr;
  PyObject* second = nullptr;
};
Arguments parse(const char* function, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, const char* name,
                const char* second_name) {
  Arguments out;
  const Py_ssize_t most = second_name != nullptr ? 2 : 1;
  if (nargs > most) {
    throw py::type_error(std::string(function) + "() takes at most " + std::to_string(most) + " argument" +
                         (most == 1 ? "" : "s") + " (" + std::to_string(nargs) + " given)");
  }
  if (nargs >= 1) out.first = args[0];
  if (nargs >= 2) out.second = args[1];
  if (kwnames != nullptr) {
    const Py_ssize_t count = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < count; ++i) {
      PyObject* keyword = PyTuple_GET_ITEM(kwnames, i);
      PyObject* value = args[nargs + i];
      if (PyUnicode_CompareWithASCIIString(keyword, name) == 0 && out.first == nullptr) {
        out.first = value;
      } else if (second_name != nullptr && PyUnicode_CompareWithASCIIString(keyword, second_name) == 0 &&
                 out.second == nullptr) {
        out.second = value;
      } else {
        throw py::type_error(std::string(function) + "() got an unexpected or repeated keyword argument '" +
                             py::cast<std::string>(py::handle(keyword)) + "'");
      }
    }
  }
  if (out.first == nullptr) throw py::type_error(std::string(function) + "() missing required argument '" + name + "'");
  return out;
}

template <class Body>
PyObject* guarded(Body&& body) noexcept {
  try {
    return body().release().ptr();
  } catch (py::error_already_set& error) {
    error.restore();
  } catch (const py::builtin_exception& error) {
    error.set_error();
  } catch (...) {
    // The module's translators (simd_r_drive::Error and pybind11's own).
    py::detail::translate_exception(std::current_exception());
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
  return nullptr;
}

extern "C" PyObject* fast_read(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return guarded([&] {
    const Arguments a = parse("read", args, nargs, kwnames, "key", nullptr);
    return store_of(self)->read(a.first);
  });
}
extern "C" PyObject* fast_read_entry(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return guarded([&] {
    const Arguments a = parse("read_entry", args, nargs, kwnames, "key", nullptr);
    return store_of(self)->read_entry(a.first);
  });
}
extern "C" PyObject* fast_get(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return guarded([&] {
    const Arguments a = parse("get", args, nargs, kwnames, "key", "default");
    return store_of(self)->get(a.first, a.second != nullptr ? py::handle(a.second) : py::handle(Py_None));
  });
}
extern "C" PyObject* fast_exists(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return guarded([&] {
    const Arguments a = parse("exists", args, nargs, kwnames, "key", nullptr);
    return py::object(py::bool_(store_of(self)->exists(a.first)));
  });
}
extern "C" PyObject* fast_getitem(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return guarded([&] {
    const Arguments a = parse("__getitem__", args, nargs, kwnames, "key", nullptr);
    return store_of(self)->getitem(a.first);
  });
}

// Replaces pybind11's method `name` of `cls` by `function` (the docstring is kept).
void install_fast(py::handle cls, PyMethodDef* definition) {
  py::object previous = py::getattr(cls, definition->ml_name);
  static std::vector<std::string> docs;  // the PyMethodDefs point into these for good
  docs.push_back(py::cast<std::string>(previous.attr("__doc__")));
  definition->ml_doc = docs.back().c_str();
  PyObject* descriptor = PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls.ptr()), definition);
  if (descriptor == nullptr) throw py::error_already_set();
  const int failed = PyObject_SetAttrString(cls.ptr(), definition->ml_name, descriptor);
  Py_DECREF(descriptor);
  if (failed != 0) throw py::error_already_set();
}

void bind_data_store(py::module_& m) {
  bind_reports(m);
  make_values_type(m);

  py::class_<PyEntryIterator>(m, "EntryIterator",
                              "The live entries of a store, newest first, as EntryHandles. It covers the entries "
                              "that existed when it was made, and stays valid after the store is closed.")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &PyEntryIterator::next);

  // The default of read_option's `default`: distinguishes "not given" from None.
  py::object missing = py::module_::import("builtins").attr("object")();
  m.attr("_MISSING") = missing;

  using S = PyDataStore;
  py::class_<S>(m, "DataStore", "A store file, opened in this process (see simd_r_drive.DataStore).")
      .def(py::init<py::handle, bool, py::handle, double, bool, bool, py::handle, py::handle>(), py::arg("path"),
           py::kw_only(), py::arg("read_only") = false, py::arg("durability") = "flush", py::arg("sync_interval") = 0.1,
           py::arg("must_exist") = false, py::arg("repair_unrecoverable") = false,
           py::arg("index_snapshot_min_keys") = 65536,
           py::arg("address_space_reservation") = simd_r_drive::OpenOptions{}.address_space_reservation)
      // writes
      .def("write", &S::write, py::arg("key"), py::arg("value"),
           "Stores `value` under `key`; returns the store's tail (its length) after the write.")
      .def("batch_write", &S::batch_write, py::arg("items"),
           "Stores every (key, value) pair in one append; a rejected item writes nothing. Later pairs "
           "win over earlier ones for the same key. Returns the tail.")
      .def("write_stream", &S::write_stream, py::arg("key"), py::arg("reader"),
           "Stores what `reader` yields (an object with readinto(buffer) or read(n), such as a binary "
           "file), in bounded memory. If the reader raises, nothing of the value stays. Returns the tail.")
      .def("write_with_key_hash", &S::write_with_key_hash, py::arg("key_hash"), py::arg("value"))
      .def("batch_write_with_key_hashes", &S::batch_write_with_key_hashes, py::arg("items"),
           py::arg("allow_null_bytes") = false,
           "Like batch_write with (key_hash, value) pairs. With allow_null_bytes, a value of the single byte "
           "0x00 deletes that hash, as in the original.")
      .def("__setitem__", [](S& self, py::handle key, py::handle value) { self.write(key, value); })
      // reads
      .def("read", &S::read, py::arg("key"), "A copy of the value as bytes, or None if the key is absent.")
      .def("read_entry", &S::read_entry, py::arg("key"),
           "The value in place, as an EntryHandle (no copy), or None if the key is absent.")
      .def("read_with_key_hash", &S::read_with_key_hash, py::arg("key_hash"))
      .def("read_entry_with_key_hash", &S::read_entry_with_key_hash, py::arg("key_hash"))
      .def("batch_read", &S::batch_read, py::arg("keys"),
           "The values of `keys`, in order, as bytes or None; one lookup pass without the GIL.")
      .def("batch_read_entries", &S::batch_read_entries, py::arg("keys"),
           "Like batch_read, with EntryHandles (no copies).")
      .def("batch_read_hashed_keys", &S::batch_read_hashed_keys, py::arg("key_hashes"), py::arg("keys") = py::none(),
           "The values under `key_hashes`. With `keys` beside them, a hash that is not its key's reads as None.")
      .def("read_metadata", &S::read_metadata, py::arg("key"), "The entry's EntryMetadata, or None.")
      .def("read_last_entry", &S::read_last_entry,
           "The physically last record, which may be a tombstone (EntryHandle.is_tombstone), or None.")
      .def("get", &S::get, py::arg("key"), py::arg("default") = py::none(),
           "The value as bytes, or `default` if the key is absent.")
      .def("__getitem__", &S::getitem)
      .def("exists", &S::exists, py::arg("key"))
      .def("exists_with_key_hash", &S::exists_with_key_hash, py::arg("key_hash"))
      .def("__contains__", &S::exists)
      .def("__len__", [](const S& self) { return self.held().len(); },
           "The number of live keys (TTL and option entries count, see docs/python.md).")
      .def("is_empty", [](const S& self) { return self.held().is_empty(); })
      .def("file_size", [](const S& self) { return self.held().file_size(); },
           "The store's size in bytes: the tail, the length the file has when closed.")
      // deletes and moves
      .def("delete", &S::remove, py::arg("key"),
           "Deletes `key` (appends a tombstone); deleting an absent key writes nothing. Returns the tail.")
      .def("__delitem__", &S::delitem)
      .def("batch_delete", &S::batch_delete, py::arg("keys"), "Deletes every key in one append. Returns the tail.")
      .def("batch_delete_key_hashes", &S::batch_delete_key_hashes, py::arg("key_hashes"))
      .def("rename", &S::rename, py::arg("old_key"), py::arg("new_key"),
           "Moves a value to a new key in one atomic append. NotFoundError if old_key is absent, "
           "InvalidArgumentError if the keys are equal.")
      .def("copy", &S::copy, py::arg("key"), py::arg("target"),
           "Copies the value of `key` into the store `target`; returns the target's tail.")
      .def("transfer", &S::transfer, py::arg("key"), py::arg("target"),
           "copy(), then delete from this store; returns this store's tail.")
      // iteration and maintenance
      .def("__iter__", [](const S& self) { return PyEntryIterator(self); },
           "The live entries, newest first, as EntryHandles (the store keeps key hashes, not keys).")
      .def("iter_entries", [](const S& self) { return PyEntryIterator(self); },
           "The live entries, newest first, as EntryHandles (zero-copy; the same as iter(store)).")
      .def("values", &make_values_iterator,
           "The live values, newest first, each copied into bytes: for small values the fastest way through "
           "a store (iterate the store itself for EntryHandles, which copy nothing).")
      .def("stats", [](S& self) { return self.released([](DataStore& store) { return store.stats(); }, false); },
           "Counts of what the store holds (StoreStats); walks the chain.")
      .def("verify", [](S& self) { return self.released([](DataStore& store) { return store.verify(); }, false); },
           "Checks the chain and every checksum (VerifyReport); changes nothing.")
      .def("compact", [](S& self) { self.released([](DataStore& store) { store.compact(); return 0; }, true); },
           "Rewrites the file with live entries only. Handles and views taken before stay valid.")
      .def("estimate_compaction_savings",
           [](S& self) { return self.released([](DataStore& store) { return store.estimate_compaction_savings(); }, false); })
      .def("sync", [](S& self) { self.released([](DataStore& store) { store.sync(); return 0; }, false); },
           "Forces every write so far to stable storage (fdatasync).")
      .def("refresh", [](S& self) { return self.released([](DataStore& store) { return store.refresh(); }, false); },
           "Read-only stores: takes in what the writer appended since; returns the tail.")
      .def("close", &S::close,
           "Closes the store (idempotent). Calls running in other threads finish first. Handles and views "
           "stay valid.")
      .def_property_readonly("closed", &S::closed)
      .def_property_readonly("path", [](const S& self) {
        return decode_path(self.held().path().string());
      }, "The store file: the path given, resolved to an absolute path without symbolic links.")
      .def_property_readonly("read_only", [](const S& self) { return self.held().is_read_only(); })
      .def_property_readonly("index_loaded_from_snapshot", [](const S& self) { return self.held().index_loaded_from_snapshot(); })
      .def("_open_arguments",
           [](const S& self) {
             const simd_r_drive::OpenOptions& options = self.options();
             py::dict kwargs;
             kwargs["read_only"] = options.read_only;
             kwargs["durability"] = durability_name(options.durability);
             kwargs["sync_interval"] = static_cast<double>(options.sync_interval.count()) / 1000.0;
             kwargs["must_exist"] = options.must_exist;
             kwargs["repair_unrecoverable"] = options.repair_unrecoverable;
             kwargs["index_snapshot_min_keys"] =
                 options.index_snapshot_min_keys == std::numeric_limits<std::size_t>::max()
                     ? py::object(py::none())
                     : py::object(py::int_(options.index_snapshot_min_keys));
             kwargs["address_space_reservation"] = options.address_space_reservation;
             return py::make_tuple(self.given_path(), kwargs);
           })
      .def_property_readonly("_owner_pid", &S::owner_pid)
      .def_static("hash_key", [](py::handle key) { return DataStore::hash_key(BufferArg(key, "key").view()); },
                  py::arg("key"))
      // the extensions
      .def("write_with_ttl", &S::write_with_ttl, py::arg("key"), py::arg("value"), py::arg("ttl_secs"),
           "Stores `value` under `key` to expire after `ttl_secs` whole seconds (None: never). Returns the tail.")
      .def("read_with_ttl", &S::read_with_ttl, py::arg("key"),
           "The value written with write_with_ttl, or None if absent or expired. Reading never writes.")
      .def("ttl_remaining", &S::ttl_remaining, py::arg("key"),
           "Whole seconds left (at least 1), math.inf for a value that never expires, None if absent or expired.")
      .def("delete_with_ttl", &S::delete_with_ttl, py::arg("key"),
           "Deletes a TTL value and its registration; True if a value that had not expired was there.")
      .def("purge_expired", [](S& self) { return self.released([](DataStore& store) { return ext::purge_expired(store); }, true); },
           "Deletes every expired TTL value (in one append); returns how many.")
      .def("compact_dropping_expired",
           [](S& self) { return self.released([](DataStore& store) { return ext::compact_dropping_expired(store); }, true); },
           "purge_expired(), then compact(); returns how many expired values were dropped.")
      .def("write_option", &S::write_option, py::arg("key"), py::arg("value"),
           "Stores an optional value: bytes-like, or None (a stored None is present, not absent).")
      .def("read_option",
           [missing](const S& self, py::handle key, py::handle fallback) { return self.read_option(key, fallback, missing); },
           py::arg("key"), py::arg("default") = missing,
           "The optional value: bytes, or None for a stored None. An absent key raises KeyError, or returns "
           "`default` when one is given.")
      .def("import_dir_recursively", &S::import_dir, py::arg("dir"), py::arg("namespace") = py::none(),
           py::kw_only(), py::arg("symlinks") = "skip",
           "Stores every regular file under `dir`, keyed by its path relative to `dir` ('css/main.css'), "
           "or in `namespace`. Bad files are reported and skipped (ImportReport). symlinks: 'skip' (the "
           "default), 'follow_files' (the original's) or 'follow_all'.")
      .def("read_file_entry", &S::read_file_entry, py::arg("relative_path"), py::arg("namespace") = py::none(),
           "The file import_dir_recursively stored at `relative_path`, as an EntryHandle, or None.")
      .def("__reduce_ex__", [](py::handle, py::handle) -> py::object {
        throw py::type_error("a writable DataStore cannot be pickled");  // the Python class refines this
      });

  static PyMethodDef fast_methods[] = {
      {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_read)), METH_FASTCALL | METH_KEYWORDS, nullptr},
      {"read_entry", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_read_entry)), METH_FASTCALL | METH_KEYWORDS, nullptr},
      {"get", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_get)), METH_FASTCALL | METH_KEYWORDS, nullptr},
      {"exists", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_exists)), METH_FASTCALL | METH_KEYWORDS, nullptr},
      {"__contains__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_exists)), METH_FASTCALL | METH_KEYWORDS, nullptr},
      {"__getitem__", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_getitem)), METH_FASTCALL | METH_KEYWORDS, nullptr},
  };
  const py::object cls = m.attr("DataStore");
  for (PyMethodDef& definition : fast_methods) install_fast(cls, &definition);
}

}  // namespace srd_python
