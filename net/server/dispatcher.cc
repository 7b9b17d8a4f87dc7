#include "server/dispatcher.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include <simd_r_drive/error.h>
#include <simd_r_drive/hashing.h>

namespace simd_r_drive::net::server {
namespace {

using protocol::Bytes;
using protocol::Method;
using protocol::Request;
using protocol::ResponseWriter;
namespace code = protocol::code;

ByteView view(Bytes bytes) { return ByteView(bytes.data(), bytes.size()); }

std::shared_ptr<const void> keep_of(const EntryHandle& handle) { return std::make_shared<const EntryHandle>(handle); }

void write_value(ResponseWriter& out, const EntryHandle& handle) {
  out.value_lazy(handle.as_slice(), [&] { return keep_of(handle); });
}

void write_optional(ResponseWriter& out, const std::optional<EntryHandle>& handle) {
  if (handle) write_value(out, *handle);
  else out.writer().nil();
}

// Values of a batch read: too_large when they would not fit in one message, unless
// the batch holds a single value (docs/protocol.md, "Limits").
void write_values(ResponseWriter& out, const ServerContext& context, std::uint32_t id,
                  const std::vector<std::optional<EntryHandle>>& handles) {
  std::size_t total = 16;
  std::size_t present = 0;
  for (const auto& handle : handles) {
    total += handle ? protocol::bin_size(handle->size()) : 1;
    present += handle ? 1 : 0;
  }
  if (present > 1 && total > context.options.max_message_bytes) {
    out.error(id, code::kTooLarge,
              "the values total " + std::to_string(total) + " bytes, over max_message_bytes (" +
                  std::to_string(context.options.max_message_bytes) + "); read them one by one or with a stream");
    return;
  }
  auto& w = out.begin_result(id);
  w.array(static_cast<std::uint32_t>(handles.size()));
  for (const auto& handle : handles) write_optional(out, handle);
}

void write_str_map_entry(mp::Writer& w, std::string_view name, std::uint64_t value) {
  w.str(name);
  w.uint(value);
}

std::optional<EntryHandle> open_by_key_or_hash(const DataStore& store, const Request& request) {
  if (request.key) return store.read(view(*request.key));
  return store.read_with_key_hash(*request.key_hash);
}

// A scan cursor: the connection's scan id and the compaction epoch it began in.
std::array<std::byte, 16> encode_cursor(std::uint64_t scan, std::uint64_t epoch) {
  std::array<std::byte, 16> out{};
  for (int i = 0; i < 8; ++i) {
    out[i] = std::byte(static_cast<std::uint8_t>(scan >> (8 * i)));
    out[8 + i] = std::byte(static_cast<std::uint8_t>(epoch >> (8 * i)));
  }
  return out;
}

bool decode_cursor(Bytes cursor, std::uint64_t& scan, std::uint64_t& epoch) {
  if (cursor.size() != 16) return false;
  scan = epoch = 0;
  for (int i = 0; i < 8; ++i) {
    scan |= std::uint64_t{static_cast<std::uint8_t>(cursor[i])} << (8 * i);
    epoch |= std::uint64_t{static_cast<std::uint8_t>(cursor[8 + i])} << (8 * i);
  }
  return true;
}

void run_scan(ServerContext& context, ConnectionStreams& streams, const Request& request, ResponseWriter& out) {
  const std::uint64_t epoch = context.compaction_epoch.load(std::memory_order_acquire);
  std::uint64_t scan_id = 0;
  if (request.cursor) {
    std::uint64_t cursor_epoch = 0;
    if (!decode_cursor(*request.cursor, scan_id, cursor_epoch)) {
      out.error(request.id, code::kInvalidParams, "param 'cursor' is not a cursor this server gave");
      return;
    }
    auto it = streams.scans.find(scan_id);
    if (it == streams.scans.end() || cursor_epoch != epoch || it->second.epoch != epoch) {
      if (it != streams.scans.end()) streams.scans.erase(it);
      out.error(request.id, code::kCursorExpired,
                "the scan is no longer open (the store was compacted, the cursor is from another connection, "
                "or too many scans were opened since); start again");
      return;
    }
  } else {
    if (streams.scans.size() >= ConnectionStreams::kMaxScans) {
      // The oldest scan gives way: its cursor gets cursor_expired.
      auto oldest = std::min_element(streams.scans.begin(), streams.scans.end(),
                                     [](const auto& a, const auto& b) { return a.first < b.first; });
      streams.scans.erase(oldest);
    }
    scan_id = streams.next_scan++;
    Scan& scan = streams.scans[scan_id];
    scan.range.emplace(context.store.iter_entries());
    scan.it = scan.range->begin();
    scan.epoch = epoch;
  }
  Scan& scan = streams.scans.at(scan_id);
  const std::uint64_t limit =
      std::clamp<std::uint64_t>(request.limit.value_or(1000), 1, context.options.max_batch_items);
  const bool with_values = request.values.value_or(true);

  // The page, built aside so its entry count can go first; it stops early rather
  // than outgrow a message.
  protocol::OutMessage page;
  ResponseWriter page_writer(page);
  std::uint64_t count = 0;
  std::size_t bytes = 64;
  while (count < limit && scan.it != std::default_sentinel) {
    const EntryHandle& entry = *scan.it;
    const std::size_t entry_bytes = 12 + (with_values ? protocol::bin_size(entry.size()) : 1);
    if (count > 0 && bytes + entry_bytes > context.options.max_message_bytes) break;
    auto& w = page_writer.writer();
    w.array(2);
    w.uint(entry.key_hash());
    if (with_values) write_value(page_writer, entry);
    else w.nil();
    bytes += entry_bytes;
    ++count;
    ++scan.it;
  }
  const bool done = scan.it == std::default_sentinel;
  auto& w = out.begin_result(request.id);
  w.map(2);
  w.str("entries");
  w.array(static_cast<std::uint32_t>(count));
  out.splice(std::move(page));
  w.str("cursor");
  if (done) {
    streams.scans.erase(scan_id);
    w.nil();
  } else {
    const auto cursor = encode_cursor(scan_id, epoch);
    w.bin(cursor);
  }
}

void write_metadata(ResponseWriter& out, std::uint32_t id, const std::optional<EntryHandle>& handle) {
  auto& w = out.begin_result(id);
  if (!handle) {
    w.nil();
    return;
  }
  const EntryMetadata& metadata = handle->metadata();
  w.map(5);
  write_str_map_entry(w, "key_hash", metadata.key_hash);
  write_str_map_entry(w, "prev_offset", metadata.prev_offset);
  write_str_map_entry(w, "checksum", metadata.checksum);
  write_str_map_entry(w, "payload_offset", handle->start_offset());
  write_str_map_entry(w, "payload_size", handle->size());
}

void write_stats(ResponseWriter& out, std::uint32_t id, const StoreStats& stats) {
  auto& w = out.begin_result(id);
  w.map(7);
  write_str_map_entry(w, "file_size", stats.file_size);
  write_str_map_entry(w, "entries", stats.entries);
  write_str_map_entry(w, "live_keys", stats.live_keys);
  write_str_map_entry(w, "tombstones", stats.tombstones);
  write_str_map_entry(w, "stale_entries", stats.stale_entries);
  write_str_map_entry(w, "live_payload_bytes", stats.live_payload_bytes);
  write_str_map_entry(w, "reclaimable_bytes", stats.reclaimable_bytes);
}

void write_verify(ResponseWriter& out, std::uint32_t id, const VerifyReport& report) {
  auto& w = out.begin_result(id);
  w.map(12);
  w.str("ok");
  w.boolean(report.ok());
  write_str_map_entry(w, "file_size", report.file_size);
  write_str_map_entry(w, "entries", report.entries);
  write_str_map_entry(w, "tombstones", report.tombstones);
  write_str_map_entry(w, "live_keys", report.live_keys);
  write_str_map_entry(w, "bytes_checked", report.bytes_checked);
  w.str("chain_intact");
  w.boolean(report.chain_intact);
  w.str("chain_error");
  w.str(report.chain_error);
  w.str("corrupt_entries");
  // Bounded so the answer fits in a message whatever the damage.
  const std::size_t listed = std::min<std::size_t>(report.corrupt_entries.size(), 10000);
  w.array(static_cast<std::uint32_t>(listed));
  for (std::size_t i = 0; i < listed; ++i) {
    const CorruptEntry& entry = report.corrupt_entries[i];
    w.map(6);
    write_str_map_entry(w, "metadata_offset", entry.metadata_offset);
    write_str_map_entry(w, "payload_offset", entry.payload_offset);
    write_str_map_entry(w, "payload_size", entry.payload_size);
    write_str_map_entry(w, "key_hash", entry.key_hash);
    write_str_map_entry(w, "stored_checksum", entry.stored_checksum);
    write_str_map_entry(w, "computed_checksum", entry.computed_checksum);
  }
  write_str_map_entry(w, "trailing_bytes", report.trailing_bytes);
  w.str("writer_active");
  w.boolean(report.writer_active);
  w.str("trailing_bytes_damaged");
  w.boolean(report.trailing_bytes_damaged);
}

void read_stream_begin(ServerContext& context, ConnectionStreams& streams, const Request& request,
                       ResponseWriter& out) {
  if (streams.read_streams.size() >= ConnectionStreams::kMaxReadStreams) {
    out.error(request.id, code::kBusy,
              "this connection has " + std::to_string(ConnectionStreams::kMaxReadStreams) +
                  " read streams open; close one first");
    return;
  }
  std::optional<EntryHandle> handle = open_by_key_or_hash(context.store, request);
  auto& w = out.begin_result(request.id);
  if (!handle) {
    w.nil();
    return;
  }
  const std::uint64_t id = streams.next_read_stream++;
  const std::uint64_t size = handle->size();
  streams.read_streams.emplace(id, ReadStream{std::move(*handle), 0});
  w.map(2);
  write_str_map_entry(w, "stream", id);
  write_str_map_entry(w, "size", size);
}

void read_stream_chunk(ServerContext& context, ConnectionStreams& streams, const Request& request,
                       ResponseWriter& out) {
  auto it = streams.read_streams.find(*request.stream);
  if (it == streams.read_streams.end()) {
    out.error(request.id, code::kStreamNotFound, "no read stream " + std::to_string(*request.stream) + " is open");
    return;
  }
  ReadStream& stream = it->second;
  const std::size_t chunk = std::min<std::uint64_t>(
      std::max<std::uint64_t>(request.max_bytes.value_or(context.options.stream_chunk_bytes), 1),
      context.options.stream_chunk_bytes);
  const std::size_t n = std::min(chunk, stream.handle.size() - stream.position);
  out.begin_result(request.id);
  const Bytes bytes = stream.handle.as_slice().subspan(stream.position, n);
  out.value_lazy(bytes, [&] { return keep_of(stream.handle); });
  stream.position += n;
  if (n == 0) streams.read_streams.erase(it);  // the end: the stream is closed
}

}  // namespace

Lane lane_of(Method method) noexcept {
  switch (method) {
    case Method::kWrite:
    case Method::kBatchWrite:
    case Method::kWriteWithKeyHash:
    case Method::kBatchWriteWithKeyHashes:
    case Method::kDelete:
    case Method::kBatchDelete:
    case Method::kBatchDeleteKeyHashes:
    case Method::kRename:
    case Method::kStats:
    case Method::kVerify:
    case Method::kCompact:
    case Method::kSync:
    case Method::kWriteWithTtl:
      return Lane::kBlocking;
    case Method::kHello:
    case Method::kWriteStreamBegin:
    case Method::kWriteStreamChunk:
    case Method::kWriteStreamEnd:
    case Method::kWriteStreamAbort:
      return Lane::kConnection;
    default:
      return Lane::kInline;
  }
}

bool writes_store(Method method) noexcept {
  switch (method) {
    case Method::kWrite:
    case Method::kBatchWrite:
    case Method::kWriteWithKeyHash:
    case Method::kBatchWriteWithKeyHashes:
    case Method::kDelete:
    case Method::kBatchDelete:
    case Method::kBatchDeleteKeyHashes:
    case Method::kRename:
    case Method::kCompact:
    case Method::kWriteWithTtl:
    case Method::kWriteStreamBegin:
      return true;
    default:
      return false;
  }
}

bool changes_keys(Method method) noexcept {
  // Every method that writes, less compaction (it changes no key) and the stream's
  // begin (the stream's own thread holds the lock while it writes).
  return writes_store(method) && method != Method::kCompact && method != Method::kWriteStreamBegin;
}

std::vector<std::string_view> served_methods(const ServerContext& context) {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < protocol::kMethodCount; ++i) {
    const auto method = static_cast<Method>(i);
    const bool ttl = method == Method::kWriteWithTtl || method == Method::kReadWithTtl || method == Method::kTtlRemaining;
    if (ttl && context.ttl == nullptr) continue;
    names.push_back(protocol::method_name(method));
  }
  return names;
}

void write_hello_result(const ServerContext& context, ResponseWriter& out, std::uint32_t id) {
  auto& w = out.begin_result(id);
  w.map(5);
  w.str("protocol");
  w.uint(protocol::kProtocolVersion);
  w.str("server");
  w.str("simd-r-drive-server " SRD_NET_VERSION);
  w.str("read_only");
  w.boolean(context.store.is_read_only());
  w.str("methods");
  const auto names = served_methods(context);
  w.array(static_cast<std::uint32_t>(names.size()));
  for (auto name : names) w.str(name);
  w.str("limits");
  w.map(5);
  write_str_map_entry(w, "max_message_bytes", context.options.max_message_bytes);
  write_str_map_entry(w, "max_in_flight", context.options.max_in_flight);
  write_str_map_entry(w, "max_batch_items", context.options.max_batch_items);
  write_str_map_entry(w, "stream_chunk_bytes", context.options.stream_chunk_bytes);
  write_str_map_entry(w, "idle_timeout_ms", static_cast<std::uint64_t>(context.options.idle_timeout.count()));
}

void write_exception(ResponseWriter& out, std::uint32_t id) {
  try {
    throw;
  } catch (const Error& error) {
    out.error(id, to_string(error.code()), error.what());
  } catch (const std::bad_alloc&) {
    out.error(id, code::kBusy, "the server is out of memory for this request");
  } catch (const std::exception& error) {
    out.error(id, code::kIo, error.what());
  } catch (...) {
    out.error(id, code::kIo, "unknown failure");
  }
}

void dispatch(ServerContext& context, ConnectionStreams& streams, const Request& request, ResponseWriter& out) {
  DataStore& store = context.store;
  const std::uint32_t id = request.id;
  // A response is written whole or not at all: an exception part way through a
  // result must not leave half a response in the message.
  const auto mark = out.mark();
  try {
    if (writes_store(request.method) && store.is_read_only()) {
      out.error(id, code::kInvalidArgument, "the server is read-only (it serves a follower)");
      return;
    }
    if (store.is_read_only() && lane_of(request.method) == Lane::kInline) context.refresh_if_due();
    std::unique_lock<std::mutex> key_write_lock;
    if (changes_keys(request.method)) key_write_lock = std::unique_lock(context.key_write_mutex);
    switch (request.method) {
      case Method::kPing:
        out.begin_result(id).str("pong");
        return;
      case Method::kWrite: {
        const std::uint64_t tail = store.write(view(*request.key), view(*request.value));
        out.begin_result(id).uint(tail);
        return;
      }
      case Method::kBatchWrite: {
        std::vector<HashedPayload> items;
        items.reserve(request.items.size());
        for (const auto& item : request.items) items.push_back({DataStore::hash_key(view(item.key)), view(item.value)});
        const std::uint64_t tail = store.batch_write_with_key_hashes(items, false);
        out.begin_result(id).uint(tail);
        return;
      }
      case Method::kWriteWithKeyHash: {
        const std::uint64_t tail = store.write_with_key_hash(*request.key_hash, view(*request.value));
        out.begin_result(id).uint(tail);
        return;
      }
      case Method::kBatchWriteWithKeyHashes: {
        std::vector<HashedPayload> items;
        items.reserve(request.hashed_items.size());
        for (const auto& item : request.hashed_items) items.push_back({item.key_hash, view(item.value)});
        const std::uint64_t tail = store.batch_write_with_key_hashes(items, request.allow_null_bytes.value_or(false));
        out.begin_result(id).uint(tail);
        return;
      }
      case Method::kRead: {
        std::optional<EntryHandle> handle = store.read(view(*request.key));
        out.begin_result(id);
        write_optional(out, handle);
        return;
      }
      case Method::kReadWithKeyHash: {
        std::optional<EntryHandle> handle = store.read_with_key_hash(*request.key_hash);
        out.begin_result(id);
        write_optional(out, handle);
        return;
      }
      case Method::kBatchRead: {
        std::vector<std::uint64_t> hashes;
        hashes.reserve(request.keys.size());
        for (const auto& key : request.keys) hashes.push_back(DataStore::hash_key(view(key)));
        write_values(out, context, id, store.batch_read_hashed_keys(hashes));
        return;
      }
      case Method::kBatchReadHashedKeys: {
        if (request.has_keys) {
          if (request.keys.size() != request.key_hashes.size()) {
            out.error(id, code::kInvalidParams, "params 'keys' and 'key_hashes' must be of equal length");
            return;
          }
          std::vector<ByteView> keys;
          keys.reserve(request.keys.size());
          for (const auto& key : request.keys) keys.push_back(view(key));
          write_values(out, context, id, store.batch_read_hashed_keys(request.key_hashes, keys));
        } else {
          write_values(out, context, id, store.batch_read_hashed_keys(request.key_hashes));
        }
        return;
      }
      case Method::kReadMetadata:
        write_metadata(out, id, store.read(view(*request.key)));
        return;
      case Method::kExists:
        out.begin_result(id).boolean(store.exists(view(*request.key)));
        return;
      case Method::kExistsWithKeyHash:
        out.begin_result(id).boolean(store.exists_with_key_hash(*request.key_hash));
        return;
      case Method::kDelete:
        out.begin_result(id).uint(store.remove(view(*request.key)));
        return;
      case Method::kBatchDelete: {
        std::vector<std::uint64_t> hashes;
        hashes.reserve(request.keys.size());
        for (const auto& key : request.keys) hashes.push_back(DataStore::hash_key(view(key)));
        out.begin_result(id).uint(store.batch_remove_key_hashes(hashes));
        return;
      }
      case Method::kBatchDeleteKeyHashes:
        out.begin_result(id).uint(store.batch_remove_key_hashes(request.key_hashes));
        return;
      case Method::kRename:
        out.begin_result(id).uint(store.rename(view(*request.old_key), view(*request.new_key)));
        return;
      case Method::kLen:
        out.begin_result(id).uint(store.len());
        return;
      case Method::kIsEmpty:
        out.begin_result(id).boolean(store.is_empty());
        return;
      case Method::kFileSize:
        out.begin_result(id).uint(store.file_size());
        return;
      case Method::kStats:
        write_stats(out, id, store.stats());
        return;
      case Method::kVerify:
        write_verify(out, id, store.verify());
        return;
      case Method::kCompact: {
        context.compactions_running.fetch_add(1);
        struct Done {
          std::atomic<std::size_t>& count;
          ~Done() { count.fetch_sub(1); }
        } done{context.compactions_running};
        store.compact();
        context.compaction_epoch.fetch_add(1, std::memory_order_acq_rel);
        out.begin_result(id).nil();
        return;
      }
      case Method::kSync:
        store.sync();
        out.begin_result(id).nil();
        return;
      case Method::kScan:
        run_scan(context, streams, request, out);
        return;
      case Method::kWriteWithTtl:
      case Method::kReadWithTtl:
      case Method::kTtlRemaining:
        if (context.ttl == nullptr) {
          out.error(id, code::kMethodNotFound,
                    "method '" + std::string(request.method_name) + "' is not served: this server is built without the extensions library");
          return;
        }
        if (request.method == Method::kWriteWithTtl) {
          out.begin_result(id).uint(
              context.ttl->write_with_ttl(store, view(*request.key), view(*request.value), *request.ttl_secs));
        } else if (request.method == Method::kReadWithTtl) {
          auto value = context.ttl->read_with_ttl(store, view(*request.key));
          out.begin_result(id);
          if (value) out.value(value->bytes, value->keep);
          else out.writer().nil();
        } else {
          const TtlState state = context.ttl->ttl_remaining(store, view(*request.key));
          auto& w = out.begin_result(id);
          w.map(state.kind == TtlState::Kind::kExpires ? 2 : 1);
          w.str("state");
          w.str(state.kind == TtlState::Kind::kAbsent ? "absent"
                : state.kind == TtlState::Kind::kNoExpiry ? "no_expiry" : "expires");
          if (state.kind == TtlState::Kind::kExpires) write_str_map_entry(w, "seconds", state.seconds);
        }
        return;
      case Method::kReadStreamBegin:
        read_stream_begin(context, streams, request, out);
        return;
      case Method::kReadStreamChunk:
        read_stream_chunk(context, streams, request, out);
        return;
      case Method::kReadStreamClose: {
        if (streams.read_streams.erase(*request.stream) == 0) {
          out.error(id, code::kStreamNotFound, "no read stream " + std::to_string(*request.stream) + " is open");
          return;
        }
        out.begin_result(id).nil();
        return;
      }
      default:
        out.error(id, code::kMethodNotFound, "no method '" + std::string(request.method_name) + "'");
        return;
    }
  } catch (...) {
    out.rollback(mark);
    write_exception(out, id);
  }
}

}  // namespace simd_r_drive::net::server
