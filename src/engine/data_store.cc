// The public DataStore: argument checks, then a call into the part of the engine
// that does the work (data_store_impl.h lists them).
#include <string>
#include <system_error>

#include "engine/compaction.h"
#include "engine/data_store_impl.h"
#include "engine/entry_iteration.h"
#include "engine/follower.h"
#include "engine/open_policy.h"
#include "engine/read_path.h"
#include "engine/records.h"
#include "engine/salvage.h"
#include "engine/verify.h"
#include "engine/writer.h"
#include "simd_r_drive/error.h"
#include "simd_r_drive/hashing.h"

namespace simd_r_drive {

namespace {

void validate_payload(ByteView payload, bool allow_null_bytes) {
  if (payload.empty()) throw Error(ErrorCode::kInvalidArgument, "Payload cannot be empty.");
  if (!allow_null_bytes && payload.size() == 1 && payload.data()[0] == kTombstoneByte) {
    throw Error(ErrorCode::kInvalidArgument, "NULL-byte payloads cannot be written directly.");
  }
}

// The padding record's hash is the engine's own (format.h): an entry under it would
// be taken for the padding and removed by the next open.
void validate_key_hash(std::uint64_t key_hash) {
  if (key_hash == kPaddingKeyHash) {
    throw Error(ErrorCode::kInvalidArgument, "key hash 0x78df9b2970da84ec (of the key \"" +
                                                 std::string(kPaddingKeyName) +
                                                 "\") is reserved for the padding record; it cannot be written.");
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Impl

DataStore::Impl::Impl(const std::filesystem::path& path, const OpenOptions& options)
    : path_(io::resolve_store_path(path)), options_(options) {
  if (options.read_only) {
    follower_ = std::make_unique<engine::Follower>(path_, options_, publication_);
  } else {
    writer_ = std::make_unique<engine::Writer>(path_, options_, publication_);
  }
}

DataStore::Impl::Impl(const EntryHandle& outer_value) {
  options_.read_only = true;
  auto view = std::make_shared<io::Mapping>(outer_value.data(), outer_value.size(),
                                            std::make_shared<EntryHandle>(outer_value));
  std::lock_guard lock(publication_.change_mutex());
  publication_.install(engine::open_nested_store(std::move(view)));
}

DataStore::Impl::~Impl() {
  // This thread's lease may name this store's mapping; without it the mapping ends
  // with the store (or with the last handle), not when the thread reads elsewhere.
  engine::drop_this_threads_lease();
}

engine::Writer& DataStore::Impl::require_writer() const {
  if (!writer_) {
    throw Error(ErrorCode::kInvalidArgument,
                is_nested() ? std::string("a nested store is read-only; it cannot be written.")
                            : "'" + path_.string() + "' was opened read-only (OpenOptions::read_only); it cannot be "
                                                     "written.");
  }
  return *writer_;
}

// ---------------------------------------------------------------------------
// DataStore

DataStore::DataStore(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
DataStore::DataStore(DataStore&&) noexcept = default;
DataStore& DataStore::operator=(DataStore&&) noexcept = default;
DataStore::~DataStore() = default;

DataStore DataStore::open(const std::filesystem::path& path, const OpenOptions& options) {
  return DataStore(std::make_unique<Impl>(path, options));
}

DataStore DataStore::open_existing(const std::filesystem::path& path, OpenOptions options) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    throw Error(ErrorCode::kNotFound, "Storage file '" + path.string() + "' does not exist.");
  }
  if (!std::filesystem::is_regular_file(path, error)) {
    throw Error(ErrorCode::kInvalidArgument, "'" + path.string() + "' is not a valid file.");
  }
  options.must_exist = true;
  return open(path, options);
}

DataStore DataStore::open_nested(const EntryHandle& value) { return DataStore(std::make_unique<Impl>(value)); }

SalvageReport DataStore::salvage(const std::filesystem::path& source, const std::filesystem::path& target) {
  return engine::salvage(source, target);
}

std::uint64_t DataStore::hash_key(ByteView key) noexcept { return compute_hash(key); }

// ---- writes ----

std::uint64_t DataStore::write(ByteView key, ByteView payload) { return write_with_key_hash(hash_key(key), payload); }

std::uint64_t DataStore::write_with_key_hash(std::uint64_t key_hash, ByteView payload) {
  validate_key_hash(key_hash);
  validate_payload(payload, false);
  const engine::PendingEntry entry{key_hash, payload, false};
  return impl_->require_writer().append({&entry, 1});
}

std::uint64_t DataStore::batch_write_with_key_hashes(std::span<const HashedPayload> items, bool allow_null_bytes) {
  engine::Writer& writer = impl_->require_writer();
  std::vector<engine::PendingEntry> entries;
  entries.reserve(items.size());
  for (const HashedPayload& item : items) {
    validate_key_hash(item.key_hash);
    validate_payload(item.payload, allow_null_bytes);
    const bool tombstone = item.payload.size() == 1 && item.payload.data()[0] == kTombstoneByte;
    entries.push_back({item.key_hash, item.payload, tombstone});
  }
  return writer.append(entries);
}

std::uint64_t DataStore::write_stream(ByteView key, std::istream& source) {
  return write_stream_with_key_hash(hash_key(key), [&source](std::span<std::byte> buffer) -> std::size_t {
    source.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    if (source.bad()) throw Error(ErrorCode::kIo, "read error in the source stream");
    return static_cast<std::size_t>(source.gcount());
  });
}

std::uint64_t DataStore::write_stream(ByteView key, const StreamReader& source) {
  return write_stream_with_key_hash(hash_key(key), source);
}

std::uint64_t DataStore::write_stream(ByteView key, EntryStream& source) {
  return write_stream_with_key_hash(hash_key(key),
                                    [&source](std::span<std::byte> buffer) { return source.read(buffer); });
}

std::uint64_t DataStore::write_stream_with_key_hash(std::uint64_t key_hash, const StreamReader& source) {
  validate_key_hash(key_hash);
  return impl_->require_writer().append_stream(key_hash, source);
}

std::uint64_t DataStore::remove(ByteView key) {
  const std::uint64_t key_hash = hash_key(key);
  return impl_->require_writer().remove({&key_hash, 1});
}

std::uint64_t DataStore::batch_remove_key_hashes(std::span<const std::uint64_t> key_hashes) {
  return impl_->require_writer().remove(key_hashes);
}

std::uint64_t DataStore::rename(ByteView old_key, ByteView new_key) {
  if (old_key == new_key) throw Error(ErrorCode::kInvalidArgument, "Cannot rename a key to itself");
  validate_key_hash(hash_key(new_key));
  return impl_->require_writer().rename(hash_key(old_key), hash_key(new_key));
}

std::uint64_t DataStore::copy(ByteView key, DataStore& target) const {
  engine::Writer& target_writer = target.impl_->require_writer();
  const engine::Writer* writer = impl_->writer();
  const engine::Follower* follower = impl_->follower();
  const auto identity = writer ? writer->identity() : follower ? follower->identity() : io::FileIdentity{};
  if ((writer || follower) && identity == target_writer.identity()) {
    throw Error(ErrorCode::kInvalidArgument, "Cannot copy entry to the same storage (\"" + impl_->path().string() +
                                                 "\"). Use `rename` instead.");
  }
  auto entry = read(key);
  if (!entry) throw Error(ErrorCode::kNotFound, "Key not found: \"" + std::string(key.as_string_view()) + "\"");
  return target.write_with_key_hash(entry->key_hash(), entry->as_slice());
}

std::uint64_t DataStore::transfer(ByteView key, DataStore& target) {
  copy(key, target);
  return remove(key);
}

// ---- reads ----

std::optional<EntryHandle> DataStore::read(ByteView key) const {
  return engine::read_hash(impl_->publication(), hash_key(key));
}

std::optional<EntryHandle> DataStore::read_with_key_hash(std::uint64_t key_hash) const {
  return engine::read_hash(impl_->publication(), key_hash);
}

bool DataStore::read_view_with_key_hash(std::uint64_t key_hash, ValueVisitor visit, void* context) const {
  return engine::visit_hash(impl_->publication(), key_hash, visit, context);
}

std::vector<std::optional<EntryHandle>> DataStore::batch_read_hashed_keys(std::span<const std::uint64_t> key_hashes) const {
  return engine::read_hashes(impl_->publication(), key_hashes);
}

std::vector<std::optional<EntryHandle>> DataStore::batch_read_hashed_keys(std::span<const std::uint64_t> key_hashes,
                                                                          std::span<const ByteView> keys) const {
  if (key_hashes.size() != keys.size()) {
    throw Error(ErrorCode::kInvalidArgument, "Mismatched lengths for hashed and non-hashed keys.");
  }
  auto results = engine::read_hashes(impl_->publication(), key_hashes);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (hash_key(keys[i]) != key_hashes[i]) results[i].reset();
  }
  return results;
}

ValueBatch DataStore::batch_read_views_hashed_keys(std::span<const std::uint64_t> key_hashes) const {
  engine::BatchViews views = engine::read_hash_views(impl_->publication(), key_hashes);
  return Impl::make_value_batch(std::move(views.pin), std::move(views.values), views.found);
}

std::optional<EntryHandle> DataStore::read_last_entry() const { return engine::read_last(impl_->publication()); }

std::optional<EntryMetadata> DataStore::read_metadata(ByteView key) const {
  auto entry = read(key);
  if (!entry) return std::nullopt;
  return entry->metadata();
}

bool DataStore::exists(ByteView key) const { return exists_with_key_hash(hash_key(key)); }
bool DataStore::exists_with_key_hash(std::uint64_t key_hash) const {
  return engine::visit_hash(impl_->publication(), key_hash, [](void*, ByteView) {}, nullptr);
}
std::size_t DataStore::len() const noexcept { return engine::published_live_count(impl_->publication()); }
std::uint64_t DataStore::file_size() const noexcept { return engine::published_tail(impl_->publication()); }
const std::filesystem::path& DataStore::path() const noexcept { return impl_->path(); }

bool DataStore::index_loaded_from_snapshot() const noexcept {
  if (const engine::Writer* writer = impl_->writer()) return writer->loaded_from_snapshot();
  if (const engine::Follower* follower = impl_->follower()) return follower->loaded_from_snapshot();
  return false;
}

// ---- iteration, inspection, maintenance ----

EntryRange DataStore::iter_entries() const { return engine::iterate(impl_->publication()); }

void DataStore::par_iter_entries(const std::function<void(const EntryHandle&)>& visit) const {
  engine::parallel_iterate(impl_->publication(), visit);
}

RecordRange DataStore::iter_records(RecordOrder order) const {
  return engine::iterate_records(impl_->publication(), order);
}

StoreStats DataStore::stats() const {
  StoreStats stats = engine::count_records(impl_->publication());
  stats.reclaimable_bytes = engine::compaction_savings(impl_->publication());
  return stats;
}

void DataStore::compact() { impl_->require_writer().compact(); }

std::uint64_t DataStore::estimate_compaction_savings() const {
  return engine::compaction_savings(impl_->publication());
}

VerifyReport DataStore::verify() const { return engine::verify(*impl_); }

// ---- durability and followers ----

void DataStore::sync() {
  if (engine::Writer* writer = impl_->writer()) writer->sync();  // a reader has nothing of its own to sync
}

std::uint64_t DataStore::refresh() {
  if (engine::Follower* follower = impl_->follower()) return follower->refresh();
  return file_size();
}

bool DataStore::is_read_only() const noexcept { return impl_->writer() == nullptr; }

}  // namespace simd_r_drive
