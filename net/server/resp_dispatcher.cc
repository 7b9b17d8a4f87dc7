#include "server/resp_dispatcher.h"

#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <exception>
#include <forward_list>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <simd_r_drive/error.h>
#include <simd_r_drive/extensions/ttl_cache.h>
#include <simd_r_drive/hashing.h>

#include "server/auth.h"

namespace simd_r_drive::net::server {
namespace {

namespace ext = simd_r_drive::extensions;
using Args = std::span<const std::string_view>;
using resp::ReplyWriter;

#ifndef SRD_NET_VERSION
#define SRD_NET_VERSION "0"
#endif

// ---- the command table ----

struct Context {
  ServerContext& server;
  RespShared& shared;
  RespClient& client;
  Args args;
  ReplyWriter& out;
  bool holds_key_write_lock;
};

// ServerContext::key_write_mutex for a command that writes, unless the caller (an
// inline write on an I/O thread) holds it already.
std::unique_lock<std::mutex> key_write_lock(const Context& c) {
  if (c.holds_key_write_lock) return {};
  return std::unique_lock(c.server.key_write_mutex);
}

using Handler = void (*)(Context&);

struct Spec {
  std::string_view name;   // lower case, as Redis's COMMAND lists it
  int arity;               // Redis's: n exactly, -n at least n (the name counts)
  std::string_view flags;  // space-separated, Redis 7.0's flags of the command
  int first_key;
  int last_key;
  int step;
  bool writes;
  std::string_view summary;
  Handler handler;
};

ByteView bv(std::string_view s) { return ByteView(s); }
std::string_view sv(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::uint64_t now_ms() {
  const auto since = std::chrono::system_clock::now().time_since_epoch();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since).count();
  return ms < 0 ? 0 : static_cast<std::uint64_t>(ms);
}

// ---- the store: how a Redis key maps to entries (docs/redis.md, "Keys and values") ----
//
// A key without an expiry is the plain entry of the key: the C++ API's, the CLI's and
// the WebSocket protocol's read(key) finds it. A key with an expiry is the TTL
// extension's value of the key (ttl_key(key): an 8-byte expiry header, UNIX seconds,
// then the value) with its registry entry, and no plain entry. Every command that
// changes which form a key has writes the new form and removes the old one in one
// batch (one append). Values the store cannot hold as a plain entry (empty, or the
// single byte 0x00, which is its tombstone) are kept as a TTL value that never
// expires.

constexpr std::byte kTombstone[1] = {std::byte{0}};

struct Lookup {
  enum class Kind { kAbsent, kPlain, kTtl } kind = Kind::kAbsent;
  std::optional<EntryHandle> handle;
  std::size_t offset = 0;         // the value's first byte in the handle (8 for a TTL value)
  std::uint64_t expiry = 0;       // kTtl: UNIX seconds, or ext::kNeverExpires
  bool plain_entry = false;       // a plain entry exists
  bool ttl_entry = false;         // a TTL entry exists (perhaps expired)
  std::span<const std::byte> value() const { return handle->as_slice().subspan(offset); }
  bool present() const { return kind != Kind::kAbsent; }
  bool has_expiry() const { return kind == Kind::kTtl && expiry != ext::kNeverExpires; }
};

std::uint64_t load_le64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// `for_write`: also find out whether a TTL entry exists beside a plain one (a write
// removes it); a read stops at the plain entry, which wins anyway.
Lookup lookup(const DataStore& store, std::string_view key, std::uint64_t now_secs, bool for_write = true) {
  Lookup found;
  if (auto plain = store.read(bv(key))) {
    found.kind = Lookup::Kind::kPlain;
    found.plain_entry = true;
    found.handle = std::move(plain);
    if (!for_write) return found;
  }
  const std::uint64_t ttl_hash = ext::ttl_value_hash(bv(key));
  std::optional<EntryHandle> ttl = store.read_with_key_hash(ttl_hash);
  if (!ttl) return found;
  found.ttl_entry = true;
  // When both exist (only other doors can make that), the plain entry wins.
  if (found.kind == Lookup::Kind::kPlain) return found;
  if (ttl->size() < ext::kTtlHeaderSize) return found;  // not a TTL value: absent to Redis
  const std::uint64_t expiry = load_le64(ttl->data());
  if (expiry != ext::kNeverExpires && now_secs >= expiry) return found;  // expired: absent
  found.kind = Lookup::Kind::kTtl;
  found.expiry = expiry;
  found.offset = ext::kTtlHeaderSize;
  found.handle = std::move(ttl);
  return found;
}

// What an unconditional put in `new_form` needs to know: which other form of the key
// exists, for the batch to remove. Presence only: no value is read, no handle taken
// (SET without NX, XX, GET or KEEPTTL, and MSET, do not look at the old value).
Lookup forms_to_replace(const DataStore& store, std::string_view key, Lookup::Kind new_form) {
  Lookup found;
  if (new_form != Lookup::Kind::kPlain) found.plain_entry = store.exists(bv(key));
  if (new_form != Lookup::Kind::kTtl) found.ttl_entry = store.exists_with_key_hash(ext::ttl_value_hash(bv(key)));
  return found;
}

// One append of writes and removals (tombstones).
class Batch {
 public:
  void reserve(std::size_t items) { items_.reserve(items); }
  void put(std::string_view key, std::span<const std::byte> value, std::optional<std::uint64_t> expiry) {
    if (!expiry && !value.empty() && !(value.size() == 1 && value[0] == std::byte{0})) {
      items_.push_back({DataStore::hash_key(bv(key)), ByteView(value.data(), value.size())});
      return;
    }
    ext::TtlEntries& e = ttl_.emplace_front(
        ext::ttl_entries(bv(key), ByteView(value.data(), value.size()), expiry.value_or(ext::kNeverExpires)));
    items_.push_back({e.value_hash, ByteView(e.value)});
    items_.push_back({e.registry_hash, ByteView(e.registration)});
  }
  void put(std::string_view key, std::string_view value, std::optional<std::uint64_t> expiry) {
    put(key, std::span<const std::byte>(reinterpret_cast<const std::byte*>(value.data()), value.size()), expiry);
  }
  // Removes what `found` says exists, except the form `keep` (which a put replaces).
  void remove(std::string_view key, const Lookup& found, std::optional<Lookup::Kind> keep = std::nullopt) {
    if (found.plain_entry && keep != Lookup::Kind::kPlain) tombstone(DataStore::hash_key(bv(key)));
    if (found.ttl_entry && keep != Lookup::Kind::kTtl) {
      tombstone(ext::ttl_value_hash(bv(key)));
      tombstone(ext::ttl_registry_hash(bv(key)));
    }
  }
  bool empty() const { return items_.empty(); }
  void commit(DataStore& store) {
    if (!items_.empty()) store.batch_write_with_key_hashes(items_, true);
  }

 private:
  void tombstone(std::uint64_t hash) { items_.push_back({hash, ByteView(kTombstone, 1)}); }
  std::vector<HashedPayload> items_;
  // items_ points into these, so they must not move; a forward_list allocates nothing
  // until a TTL value is put (libstdc++'s deque allocates when it is made).
  std::forward_list<ext::TtlEntries> ttl_;
};

// The form a put of `value` with `expiry` takes (what it replaces rather than removes).
Lookup::Kind form_of(std::string_view value, std::optional<std::uint64_t> expiry) {
  if (expiry || value.empty() || (value.size() == 1 && value[0] == '\0')) return Lookup::Kind::kTtl;
  return Lookup::Kind::kPlain;
}

// ---- replies of common errors ----

void wrong_arity(Context& c, std::string_view name) {
  c.out.error("ERR wrong number of arguments for '" + lower(name) + "' command");
}
void syntax_error(Context& c) { c.out.error("ERR syntax error"); }
void not_integer(Context& c) { c.out.error("ERR value is not an integer or out of range"); }

bool int_arg(Context& c, std::string_view text, std::int64_t& value) {
  if (resp::parse_int64(text, value)) return true;
  not_integer(c);
  return false;
}

std::uint64_t now_secs() { return now_ms() / 1000; }

// An absolute expiry in ms, rounded up to the store's whole seconds (a key never
// outlives what it was given by less, only by up to 999 ms more).
std::uint64_t expiry_secs_of_ms(std::uint64_t at_ms) { return at_ms / 1000 + (at_ms % 1000 != 0 ? 1 : 0); }

// ---- commands: connection ----

void cmd_ping(Context& c) {
  if (c.args.size() > 2) return wrong_arity(c, "ping");
  if (c.args.size() == 2) return c.out.bulk(c.args[1]);
  c.out.simple("PONG");
}
void cmd_echo(Context& c) { c.out.bulk(c.args[1]); }
void cmd_quit(Context& c) {
  c.client.close_after_reply = true;
  c.out.simple("OK");
}

// AUTH [user] token: against the server's token (docs/security.md).
bool authenticate(Context& c, std::string_view user, std::string_view password, bool with_user) {
  const std::string& token = c.server.options.token;
  if (token.empty()) {
    if (with_user && user == "default") {
      // Redis: the default user without a password takes any password.
      c.client.authenticated = true;
      return true;
    }
    c.out.error(
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your "
        "configuration is correct?");
    return false;
  }
  const bool ok = (!with_user || user == "default") &&
                  token_matches(token, std::span<const std::byte>(reinterpret_cast<const std::byte*>(password.data()),
                                                                  password.size()));
  if (!ok) {
    c.server.auth_failures.fetch_add(1);
    c.server.log("redis client " + std::to_string(c.client.id) + ": auth failure");
    c.out.error("WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  c.client.authenticated = true;
  return true;
}

void cmd_auth(Context& c) {
  if (c.args.size() > 3) return syntax_error(c);
  const bool with_user = c.args.size() == 3;
  if (authenticate(c, with_user ? c.args[1] : "default", c.args.back(), with_user)) c.out.simple("OK");
}

bool valid_client_name(std::string_view name) {
  for (char ch : name) {
    if (ch < '!' || ch > '~') return false;
  }
  return true;
}

void cmd_hello(Context& c) {
  std::size_t i = 1;
  if (c.args.size() >= 2) {
    std::int64_t version = 0;
    if (!resp::parse_int64(c.args[1], version)) {
      return c.out.error("ERR Protocol version is not an integer or out of range");
    }
    if (version != 2) return c.out.error("NOPROTO unsupported protocol version");
    i = 2;
  }
  std::string name;
  bool set_name = false;
  for (; i < c.args.size(); ++i) {
    const bool more = i + 1 < c.args.size();
    if (iequals(c.args[i], "AUTH") && i + 2 < c.args.size()) {
      if (!authenticate(c, c.args[i + 1], c.args[i + 2], true)) return;
      i += 2;
    } else if (iequals(c.args[i], "SETNAME") && more) {
      if (!valid_client_name(c.args[i + 1])) {
        return c.out.error("ERR Client names cannot contain spaces, newlines or special characters.");
      }
      name = std::string(c.args[i + 1]);
      set_name = true;
      ++i;
    } else {
      return c.out.error("ERR Syntax error in HELLO option '" + std::string(c.args[i]) + "'");
    }
  }
  if (!c.server.options.token.empty() && !c.client.authenticated) {
    return c.out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> "
                       "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
                       "protocol version at the same time");
  }
  if (set_name) c.client.name = name;
  c.out.array(14);
  c.out.bulk("server");
  c.out.bulk("redis");
  c.out.bulk("version");
  c.out.bulk("7.0.0");
  c.out.bulk("proto");
  c.out.integer(2);
  c.out.bulk("id");
  c.out.integer(static_cast<std::int64_t>(c.client.id));
  c.out.bulk("mode");
  c.out.bulk(c.shared.cluster.enabled() ? "cluster" : "standalone");
  c.out.bulk("role");
  c.out.bulk("master");
  c.out.bulk("modules");
  c.out.array(0);
}

void cmd_select(Context& c) {
  std::int64_t db = 0;
  if (!int_arg(c, c.args[1], db)) return;
  if (db != 0) {
    return c.out.error(c.shared.cluster.enabled() ? "ERR SELECT is not allowed in cluster mode"
                                                  : "ERR DB index is out of range");
  }
  c.out.simple("OK");
}

void cmd_client(Context& c) {
  const std::string sub = lower(c.args[1]);
  if (sub == "setname" && c.args.size() == 3) {
    if (!valid_client_name(c.args[2])) {
      return c.out.error("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    c.client.name = std::string(c.args[2]);
    return c.out.simple("OK");
  }
  if (sub == "getname" && c.args.size() == 2) {
    if (c.client.name.empty()) return c.out.null_bulk();
    return c.out.bulk(c.client.name);
  }
  if (sub == "id" && c.args.size() == 2) return c.out.integer(static_cast<std::int64_t>(c.client.id));
  if (sub == "setinfo" && c.args.size() == 4) return c.out.simple("OK");
  if (sub == "setname" || sub == "getname" || sub == "id" || sub == "setinfo") {
    return c.out.error("ERR wrong number of arguments for 'client|" + sub + "' command");
  }
  c.out.error("ERR unknown subcommand '" + std::string(c.args[1]).substr(0, 128) + "'. Try CLIENT HELP.");
}

// ---- commands: strings ----

void cmd_get(Context& c) {
  Lookup found = lookup(c.server.store, c.args[1], now_secs(), false);
  if (!found.present()) return c.out.null_bulk();
  if (!c.out.refers(found.value().size())) return c.out.bulk(found.value());
  // A large value is sent from the store's mapping, which its handle keeps valid.
  auto keep = std::make_shared<const EntryHandle>(std::move(*found.handle));
  const auto value = keep->as_slice().subspan(found.offset);
  c.out.bulk_reference(value, std::move(keep));
}

void cmd_set(Context& c) {
  const std::string_view key = c.args[1];
  const std::string_view value = c.args[2];
  bool nx = false, xx = false, get = false, keepttl = false;
  std::optional<std::uint64_t> expiry_ms;  // absolute
  bool expiry_given = false;
  const std::uint64_t now = now_ms();
  for (std::size_t i = 3; i < c.args.size(); ++i) {
    const std::string opt = lower(c.args[i]);
    const bool more = i + 1 < c.args.size();
    if (opt == "nx" && !xx) nx = true;
    else if (opt == "xx" && !nx) xx = true;
    else if (opt == "get") get = true;
    else if (opt == "keepttl" && !expiry_given) keepttl = true;
    else if ((opt == "ex" || opt == "px" || opt == "exat" || opt == "pxat") && more && !expiry_given && !keepttl) {
      std::int64_t n = 0;
      if (!int_arg(c, c.args[++i], n)) return;
      if (n <= 0 || n > (INT64_MAX / 1000) - static_cast<std::int64_t>(now / 1000)) {
        return c.out.error("ERR invalid expire time in 'set' command");
      }
      const auto u = static_cast<std::uint64_t>(n);
      if (opt == "ex") expiry_ms = now + u * 1000;
      else if (opt == "px") expiry_ms = now + u;
      else if (opt == "exat") expiry_ms = u * 1000;
      else expiry_ms = u;
      expiry_given = true;
    } else {
      return syntax_error(c);
    }
  }
  const auto lock = key_write_lock(c);
  const std::uint64_t now_s = now / 1000;
  const std::optional<std::uint64_t> given_expiry =
      expiry_ms ? std::optional(expiry_secs_of_ms(*expiry_ms)) : std::nullopt;
  const bool conditional = nx || xx || get || keepttl;
  const bool expires_at_once = given_expiry && *given_expiry <= now_s;
  const Lookup found = conditional || expires_at_once
                           ? lookup(c.server.store, key, now_s)
                           : forms_to_replace(c.server.store, key, form_of(value, given_expiry));
  if (get) {
    if (found.present()) c.out.bulk(found.value());
    else c.out.null_bulk();
  }
  if ((nx && found.present()) || (xx && !found.present())) {
    if (!get) c.out.null_bulk();
    return;
  }
  std::optional<std::uint64_t> expiry = given_expiry;
  if (!expiry && keepttl && found.has_expiry()) expiry = found.expiry;
  Batch batch;
  if (expiry && *expiry <= now_s) {
    batch.remove(key, found);  // an expiry in the past: the key is set and expires at once
  } else {
    batch.put(key, value, expiry);
    batch.remove(key, found, form_of(value, expiry));
  }
  batch.commit(c.server.store);
  if (!get) c.out.simple("OK");
}

void cmd_getdel(Context& c) {
  const auto lock = key_write_lock(c);
  const Lookup found = lookup(c.server.store, c.args[1], now_secs());
  if (!found.present()) {
    Batch batch;
    batch.remove(c.args[1], found);  // an expired TTL entry goes too
    batch.commit(c.server.store);
    return c.out.null_bulk();
  }
  c.out.bulk(found.value());
  Batch batch;
  batch.remove(c.args[1], found);
  batch.commit(c.server.store);
}

void cmd_del(Context& c) {
  const auto lock = key_write_lock(c);
  const std::uint64_t now = now_secs();
  Batch batch;
  std::int64_t removed = 0;
  std::vector<std::string_view> seen;
  for (std::size_t i = 1; i < c.args.size(); ++i) {
    if (std::find(seen.begin(), seen.end(), c.args[i]) != seen.end()) continue;
    seen.push_back(c.args[i]);
    const Lookup found = lookup(c.server.store, c.args[i], now);
    if (found.present()) ++removed;
    batch.remove(c.args[i], found);
  }
  batch.commit(c.server.store);
  c.out.integer(removed);
}

void cmd_exists(Context& c) {
  const std::uint64_t now = now_secs();
  std::int64_t count = 0;
  for (std::size_t i = 1; i < c.args.size(); ++i) count += lookup(c.server.store, c.args[i], now, false).present() ? 1 : 0;
  c.out.integer(count);
}

void cmd_mget(Context& c) {
  const std::uint64_t now = now_secs();
  c.out.array(c.args.size() - 1);
  for (std::size_t i = 1; i < c.args.size(); ++i) {
    const Lookup found = lookup(c.server.store, c.args[i], now, false);
    if (found.present()) c.out.bulk(found.value());
    else c.out.null_bulk();
  }
}

// For MSET's pairs (args[1], args[2]), (args[3], args[4])...: whether a later pair
// names the same key. Few pairs are compared directly, many through a hash set.
std::vector<bool> superseded_pairs(const Args& args) {
  const std::size_t pairs = (args.size() - 1) / 2;
  std::vector<bool> superseded(pairs, false);
  auto key = [&](std::size_t pair) { return args[1 + 2 * pair]; };
  if (pairs <= 32) {
    for (std::size_t a = 0; a < pairs; ++a) {
      for (std::size_t b = a + 1; b < pairs && !superseded[a]; ++b) superseded[a] = key(a) == key(b);
    }
    return superseded;
  }
  std::unordered_set<std::string_view> later;
  for (std::size_t pair = pairs; pair-- > 0;) superseded[pair] = !later.insert(key(pair)).second;
  return superseded;
}

void cmd_mset(Context& c) {
  if (c.args.size() % 2 != 1) return wrong_arity(c, "mset");
  const auto lock = key_write_lock(c);
  Batch batch;
  batch.reserve(c.args.size() - 1);  // a put and a removal per pair, at most
  // The later of two pairs for one key wins, as in Redis: an earlier pair is left out
  // rather than written and replaced, since the two may put different forms of the
  // key and the removals look at the store, not at this batch.
  const std::vector<bool> superseded = superseded_pairs(c.args);
  for (std::size_t i = 1; i + 1 < c.args.size(); i += 2) {
    if (superseded[i / 2]) continue;
    const Lookup::Kind form = form_of(c.args[i + 1], std::nullopt);
    batch.put(c.args[i], c.args[i + 1], std::nullopt);
    batch.remove(c.args[i], forms_to_replace(c.server.store, c.args[i], form), form);
  }
  batch.commit(c.server.store);
  c.out.simple("OK");
}

void cmd_strlen(Context& c) {
  const Lookup found = lookup(c.server.store, c.args[1], now_secs(), false);
  c.out.integer(found.present() ? static_cast<std::int64_t>(found.value().size()) : 0);
}

void cmd_getrange(Context& c) {
  std::int64_t start = 0, end = 0;
  if (!int_arg(c, c.args[2], start) || !int_arg(c, c.args[3], end)) return;
  const Lookup found = lookup(c.server.store, c.args[1], now_secs(), false);
  if (!found.present()) return c.out.bulk(std::string_view());
  const auto value = found.value();
  const auto len = static_cast<std::int64_t>(value.size());
  if (start < 0 && end < 0 && start > end) return c.out.bulk(std::string_view());
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0) return c.out.bulk(std::string_view());
  c.out.bulk(value.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(end - start + 1)));
}

void cmd_rename(Context& c) {
  const std::string_view from = c.args[1];
  const std::string_view to = c.args[2];
  const auto lock = key_write_lock(c);
  const std::uint64_t now = now_secs();
  const Lookup source = lookup(c.server.store, from, now);
  if (!source.present()) return c.out.error("ERR no such key");
  if (from == to) return c.out.simple("OK");
  const Lookup target = lookup(c.server.store, to, now);
  // The value keeps its expiry, as in Redis. Copied out first: the batch appends.
  const std::string value(sv(source.value()));
  std::optional<std::uint64_t> expiry;
  if (source.has_expiry()) expiry = source.expiry;
  Batch batch;
  batch.put(to, value, expiry);
  batch.remove(to, target, form_of(value, expiry));
  batch.remove(from, source);
  batch.commit(c.server.store);
  c.out.simple("OK");
}

// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: the value moves to (or stays in) the TTL form.
void expire_generic(Context& c, bool ms, bool absolute, std::string_view name) {
  std::int64_t n = 0;
  if (!int_arg(c, c.args[2], n)) return;
  bool nx = false, xx = false, gt = false, lt = false;
  for (std::size_t i = 3; i < c.args.size(); ++i) {
    const std::string opt = lower(c.args[i]);
    if (opt == "nx") nx = true;
    else if (opt == "xx") xx = true;
    else if (opt == "gt") gt = true;
    else if (opt == "lt") lt = true;
    else return c.out.error("ERR Unsupported option " + std::string(c.args[i]));
  }
  if ((nx && (xx || gt || lt)) || (gt && lt)) {
    return c.out.error("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  const std::uint64_t now = now_ms();
  std::int64_t at_ms = 0;  // absolute
  const std::int64_t unit = ms ? 1 : 1000;
  if (n > INT64_MAX / 1000 || n < INT64_MIN / 1000) {
    return c.out.error("ERR invalid expire time in '" + std::string(name) + "' command");
  }
  at_ms = n * unit + (absolute ? 0 : static_cast<std::int64_t>(now));
  const auto lock = key_write_lock(c);
  const Lookup found = lookup(c.server.store, c.args[1], now / 1000);
  if (!found.present()) return c.out.integer(0);
  const bool has_expiry = found.has_expiry();
  const std::int64_t current_ms = has_expiry ? static_cast<std::int64_t>(found.expiry * 1000) : 0;
  if ((nx && has_expiry) || (xx && !has_expiry) || (gt && (!has_expiry || at_ms <= current_ms)) ||
      (lt && has_expiry && at_ms >= current_ms)) {
    return c.out.integer(0);
  }
  Batch batch;
  if (at_ms <= static_cast<std::int64_t>(now)) {
    batch.remove(c.args[1], found);  // an expiry in the past deletes the key
  } else {
    const std::string value(sv(found.value()));
    const std::uint64_t expiry = expiry_secs_of_ms(static_cast<std::uint64_t>(at_ms));
    batch.put(c.args[1], value, expiry);
    batch.remove(c.args[1], found, Lookup::Kind::kTtl);
  }
  batch.commit(c.server.store);
  c.out.integer(1);
}
void cmd_expire(Context& c) { expire_generic(c, false, false, "expire"); }
void cmd_pexpire(Context& c) { expire_generic(c, true, false, "pexpire"); }
void cmd_expireat(Context& c) { expire_generic(c, false, true, "expireat"); }
void cmd_pexpireat(Context& c) { expire_generic(c, true, true, "pexpireat"); }

void ttl_generic(Context& c, bool ms) {
  const std::uint64_t now = now_ms();
  const Lookup found = lookup(c.server.store, c.args[1], now / 1000, false);
  if (!found.present()) return c.out.integer(-2);
  if (!found.has_expiry()) return c.out.integer(-1);
  const std::uint64_t left_ms = found.expiry * 1000 - now;
  // Whole seconds, rounded down: the expiry is kept in whole seconds, rounded up.
  c.out.integer(static_cast<std::int64_t>(ms ? left_ms : left_ms / 1000));
}
void cmd_ttl(Context& c) { ttl_generic(c, false); }
void cmd_pttl(Context& c) { ttl_generic(c, true); }

void cmd_persist(Context& c) {
  const auto lock = key_write_lock(c);
  const Lookup found = lookup(c.server.store, c.args[1], now_secs());
  if (!found.has_expiry()) return c.out.integer(0);
  const std::string value(sv(found.value()));
  Batch batch;
  batch.put(c.args[1], value, std::nullopt);
  batch.remove(c.args[1], found, form_of(value, std::nullopt));
  batch.commit(c.server.store);
  c.out.integer(1);
}

void cmd_no_names(Context& c) {
  c.out.error("ERR " + lower(c.args[0]) +
              " is not supported: the store keeps only hashes of keys, not the keys themselves (docs/redis.md)");
}

// ---- commands: server ----

void cmd_dbsize(Context& c) {
  c.out.integer(static_cast<std::int64_t>(c.shared.keyspace.count(c.server.store, now_ms()).keys));
}

void cmd_save(Context& c) {
  c.server.store.sync();
  c.out.simple("OK");
}

std::string info_text(Context& c, std::string_view section) {
  const bool all = section.empty() || section == "all" || section == "everything" || section == "default";
  std::string text;
  auto want = [&](std::string_view name) { return all || section == name; };
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                       c.shared.started)
                          .count();
  if (want("server")) {
    text += "# Server\r\nredis_version:7.0.0\r\nsimd_r_drive_version:" SRD_NET_VERSION "\r\nredis_mode:";
    text += c.shared.cluster.enabled() ? "cluster" : "standalone";
    text += "\r\nos:Linux\r\narch_bits:64\r\nprocess_id:" + std::to_string(::getpid()) +
            "\r\ntcp_port:" + std::to_string(c.shared.port) + "\r\nuptime_in_seconds:" + std::to_string(uptime) +
            "\r\n\r\n";
  }
  if (want("clients")) {
    text += "# Clients\r\nconnected_clients:" + std::to_string(c.shared.connections_open.load()) + "\r\n\r\n";
  }
  if (want("persistence")) {
    text += "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\n"
            "rdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\n"
            "simd_r_drive_file_size:" +
            std::to_string(c.server.store.file_size()) + "\r\nsimd_r_drive_read_only:" +
            (c.server.store.is_read_only() ? "1" : "0") + "\r\n\r\n";
  }
  if (want("stats")) {
    text += "# Stats\r\ntotal_connections_received:" + std::to_string(c.shared.connections_accepted.load()) +
            "\r\ntotal_commands_processed:" + std::to_string(c.shared.commands.load()) + "\r\n\r\n";
  }
  if (want("cluster")) {
    text += std::string("# Cluster\r\ncluster_enabled:") + (c.shared.cluster.enabled() ? "1" : "0") + "\r\n\r\n";
  }
  if (want("keyspace")) {
    text += "# Keyspace\r\n";
    const KeyspaceCounts counts = c.shared.keyspace.count(c.server.store, now_ms());
    if (counts.keys > 0) {
      text += "db0:keys=" + std::to_string(counts.keys) + ",expires=" + std::to_string(counts.expires) +
              ",avg_ttl=" + std::to_string(counts.avg_ttl_ms) + "\r\n";
    }
    text += "\r\n";
  }
  return text;
}

void cmd_info(Context& c) {
  std::string text;
  if (c.args.size() == 1) {
    text = info_text(c, "");
  } else {
    for (std::size_t i = 1; i < c.args.size(); ++i) text += info_text(c, lower(c.args[i]));
  }
  c.out.bulk(text);
}

void cmd_config(Context& c) {
  const std::string sub = lower(c.args[1]);
  if (sub == "get") {
    if (c.args.size() < 3) return c.out.error("ERR wrong number of arguments for 'config|get' command");
    // What clients ask for (redis-benchmark: save, appendonly), with the answers that
    // describe this server: no RDB snapshots, no AOF (the store is its own log).
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kParams{{
        {"save", ""},
        {"appendonly", "no"},
        {"databases", "1"},
        {"maxmemory", "0"},
        {"cluster-enabled", "no"},
        {"timeout", "0"},
    }};
    std::vector<std::pair<std::string, std::string>> hits;
    for (std::size_t i = 2; i < c.args.size(); ++i) {
      const std::string pattern = lower(c.args[i]);
      for (const auto& [name, value] : kParams) {
        if (fnmatch(pattern.c_str(), std::string(name).c_str(), 0) != 0) continue;
        if (std::any_of(hits.begin(), hits.end(), [&](const auto& h) { return h.first == name; })) continue;
        std::string v(value);
        if (name == "cluster-enabled") v = c.shared.cluster.enabled() ? "yes" : "no";
        if (name == "timeout") {
          v = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(c.server.options.resp_idle_timeout).count());
        }
        hits.emplace_back(std::string(name), v);
      }
    }
    c.out.array(hits.size() * 2);
    for (const auto& [name, value] : hits) {
      c.out.bulk(name);
      c.out.bulk(value);
    }
    return;
  }
  if (sub == "resetstat" && c.args.size() == 2) return c.out.simple("OK");
  if (sub == "set") return c.out.error("ERR CONFIG SET is not supported: the server is configured by its options");
  c.out.error("ERR unknown subcommand '" + std::string(c.args[1]).substr(0, 128) + "'. Try CONFIG HELP.");
}

void cmd_command(Context& c);
void cmd_cluster(Context& c);
void cmd_clusterx(Context& c);
void cmd_ok(Context& c) { c.out.simple("OK"); }

constexpr Spec kSpecs[] = {
    {"get", 2, "readonly fast", 1, 1, 1, false, "Get the value of a key", cmd_get},
    {"set", -3, "write denyoom", 1, 1, 1, true, "Set the string value of a key", cmd_set},
    {"getdel", 2, "write fast", 1, 1, 1, true, "Get the value of a key and delete the key", cmd_getdel},
    {"del", -2, "write", 1, -1, 1, true, "Delete a key", cmd_del},
    {"unlink", -2, "write fast", 1, -1, 1, true, "Delete a key", cmd_del},
    {"exists", -2, "readonly fast", 1, -1, 1, false, "Determine if a key exists", cmd_exists},
    {"mget", -2, "readonly fast", 1, -1, 1, false, "Get the values of all the given keys", cmd_mget},
    {"mset", -3, "write denyoom", 1, -1, 2, true, "Set multiple keys to multiple values", cmd_mset},
    {"strlen", 2, "readonly fast", 1, 1, 1, false, "Get the length of the value stored in a key", cmd_strlen},
    {"getrange", 4, "readonly", 1, 1, 1, false, "Get a substring of the string stored at a key", cmd_getrange},
    {"rename", 3, "write", 1, 2, 1, true, "Rename a key", cmd_rename},
    {"expire", -3, "write fast", 1, 1, 1, true, "Set a key's time to live in seconds", cmd_expire},
    {"pexpire", -3, "write fast", 1, 1, 1, true, "Set a key's time to live in milliseconds", cmd_pexpire},
    {"expireat", -3, "write fast", 1, 1, 1, true, "Set the expiration for a key as a UNIX timestamp", cmd_expireat},
    {"pexpireat", -3, "write fast", 1, 1, 1, true, "Set the expiration for a key as a UNIX timestamp in ms",
     cmd_pexpireat},
    {"ttl", 2, "readonly fast", 1, 1, 1, false, "Get the time to live for a key in seconds", cmd_ttl},
    {"pttl", 2, "readonly fast", 1, 1, 1, false, "Get the time to live for a key in milliseconds", cmd_pttl},
    {"persist", 2, "write fast", 1, 1, 1, true, "Remove the expiration from a key", cmd_persist},
    {"keys", 2, "readonly", 0, 0, 0, false, "Not supported: the store keeps only key hashes", cmd_no_names},
    {"scan", -2, "readonly", 0, 0, 0, false, "Not supported: the store keeps only key hashes", cmd_no_names},
    {"randomkey", 1, "readonly", 0, 0, 0, false, "Not supported: the store keeps only key hashes", cmd_no_names},
    {"dbsize", 1, "readonly fast", 0, 0, 0, false, "Return the number of keys in the selected database", cmd_dbsize},
    {"ping", -1, "fast", 0, 0, 0, false, "Ping the server", cmd_ping},
    {"echo", 2, "fast", 0, 0, 0, false, "Echo the given string", cmd_echo},
    {"quit", -1, "allow_busy fast no_auth", 0, 0, 0, false, "Close the connection", cmd_quit},
    {"hello", -1, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, false, "Handshake with Redis",
     cmd_hello},
    {"auth", -2, "noscript loading stale fast no_auth allow_busy", 0, 0, 0, false, "Authenticate to the server",
     cmd_auth},
    {"select", 2, "loading stale fast", 0, 0, 0, false, "Change the selected database", cmd_select},
    {"client", -2, "", 0, 0, 0, false, "A container for client connection commands", cmd_client},
    {"info", -1, "loading stale", 0, 0, 0, false, "Get information and statistics about the server", cmd_info},
    {"config", -2, "", 0, 0, 0, false, "A container for server configuration commands", cmd_config},
    {"command", -1, "loading stale", 0, 0, 0, false, "Get array of Redis command details", cmd_command},
    {"save", 1, "admin noscript no_async_loading no_multi", 0, 0, 0, true,
     "Synchronously save the dataset to disk", cmd_save},
    {"cluster", -2, "", 0, 0, 0, false, "A container for cluster commands", cmd_cluster},
    {"clusterx", -2, "admin", 0, 0, 0, false, "Set the static cluster topology (kvrocks' CLUSTERX)", cmd_clusterx},
    {"readonly", 1, "loading stale fast", 0, 0, 0, false, "Enables read queries for a cluster replica", cmd_ok},
    {"readwrite", 1, "loading stale fast", 0, 0, 0, false, "Disables read queries for a cluster replica", cmd_ok},
    {"asking", 1, "fast", 0, 0, 0, false, "Sent by cluster clients after an -ASK redirect", cmd_ok},
};

const Spec* find_spec(std::string_view name) {
  static const auto* table = [] {
    auto* map = new std::unordered_map<std::string, const Spec*>();
    for (const Spec& spec : kSpecs) map->emplace(std::string(spec.name), &spec);
    return map;
  }();
  if (name.size() > 32) return nullptr;
  const auto it = table->find(lower(name));
  return it == table->end() ? nullptr : it->second;
}

bool arity_ok(const Spec& spec, std::size_t argc) {
  return spec.arity >= 0 ? argc == static_cast<std::size_t>(spec.arity)
                         : argc >= static_cast<std::size_t>(-spec.arity);
}

// The positions of the keys in `args` by the table (Redis's first, last, step).
std::vector<std::size_t> key_positions(const Spec& spec, std::size_t argc) {
  std::vector<std::size_t> out;
  if (spec.first_key <= 0) return out;
  const std::int64_t last = spec.last_key < 0 ? static_cast<std::int64_t>(argc) + spec.last_key : spec.last_key;
  for (std::int64_t i = spec.first_key; i <= last && i < static_cast<std::int64_t>(argc); i += spec.step) {
    out.push_back(static_cast<std::size_t>(i));
  }
  return out;
}

void write_flags(ReplyWriter& out, std::string_view flags) {
  std::vector<std::string_view> list;
  std::size_t i = 0;
  while (i < flags.size()) {
    const std::size_t space = flags.find(' ', i);
    const std::size_t end = space == std::string_view::npos ? flags.size() : space;
    if (end > i) list.push_back(flags.substr(i, end - i));
    i = end + 1;
  }
  out.array(list.size());
  for (auto f : list) out.simple(f);
}

void write_command_info(ReplyWriter& out, const Spec& spec) {
  // Redis 7.0's shape: name, arity, flags, first key, last key, step, ACL categories,
  // tips, key specs, subcommands.
  out.array(10);
  out.bulk(spec.name);
  out.integer(spec.arity);
  write_flags(out, spec.flags);
  out.integer(spec.first_key);
  out.integer(spec.last_key);
  out.integer(spec.step);
  out.array(0);
  out.array(0);
  out.array(0);
  out.array(0);
}

void cmd_command(Context& c) {
  if (c.args.size() == 1) {
    c.out.array(std::size(kSpecs));
    for (const Spec& spec : kSpecs) write_command_info(c.out, spec);
    return;
  }
  const std::string sub = lower(c.args[1]);
  if (sub == "count" && c.args.size() == 2) return c.out.integer(static_cast<std::int64_t>(std::size(kSpecs)));
  if (sub == "list" && c.args.size() == 2) {
    c.out.array(std::size(kSpecs));
    for (const Spec& spec : kSpecs) c.out.bulk(spec.name);
    return;
  }
  if (sub == "info") {
    if (c.args.size() == 2) {
      c.out.array(std::size(kSpecs));
      for (const Spec& spec : kSpecs) write_command_info(c.out, spec);
      return;
    }
    c.out.array(c.args.size() - 2);
    for (std::size_t i = 2; i < c.args.size(); ++i) {
      if (const Spec* spec = find_spec(c.args[i])) write_command_info(c.out, *spec);
      else c.out.null_array();
    }
    return;
  }
  if (sub == "docs") {
    std::vector<const Spec*> specs;
    if (c.args.size() == 2) {
      for (const Spec& spec : kSpecs) specs.push_back(&spec);
    } else {
      for (std::size_t i = 2; i < c.args.size(); ++i) {
        if (const Spec* spec = find_spec(c.args[i])) specs.push_back(spec);
      }
    }
    c.out.array(specs.size() * 2);
    for (const Spec* spec : specs) {
      c.out.bulk(spec->name);
      c.out.array(6);
      c.out.bulk("summary");
      c.out.bulk(spec->summary);
      c.out.bulk("since");
      c.out.bulk("1.0.0");
      c.out.bulk("group");
      c.out.bulk(spec->first_key > 0 ? "string" : "server");
    }
    return;
  }
  if (sub == "getkeys" && c.args.size() >= 3) {
    const Spec* spec = find_spec(c.args[2]);
    if (spec == nullptr) return c.out.error("ERR Invalid command specified");
    const auto inner = c.args.subspan(2);
    if (!arity_ok(*spec, inner.size())) return c.out.error("ERR Invalid number of arguments specified for command");
    const auto positions = key_positions(*spec, inner.size());
    if (positions.empty()) return c.out.error("ERR The command has no key arguments");
    c.out.array(positions.size());
    for (auto p : positions) c.out.bulk(inner[p]);
    return;
  }
  c.out.error("ERR unknown subcommand or wrong number of arguments for '" + std::string(c.args[1]).substr(0, 128) +
              "'. Try COMMAND HELP.");
}

// ---- cluster ----

const ClusterNode* my_node(const RespShared& shared, const Topology& topology, const std::string& my_id) {
  for (const auto& node : topology.nodes) {
    if (!my_id.empty() ? node.id == my_id : (node.host == shared.host && node.port == shared.port)) return &node;
  }
  return nullptr;
}

void cmd_cluster(Context& c) {
  if (!c.shared.cluster.enabled()) return c.out.error("ERR This instance has cluster support disabled");
  const std::string sub = lower(c.args[1]);
  if (sub == "keyslot" && c.args.size() == 3) return c.out.integer(resp::key_slot(c.args[2]));
  const auto topology = c.shared.cluster.topology();
  const std::string my_id = c.shared.cluster.my_id();
  const ClusterNode* me = topology ? my_node(c.shared, *topology, my_id) : nullptr;
  if (sub == "myid" && c.args.size() == 2) {
    if (me != nullptr) return c.out.bulk(me->id);
    if (!my_id.empty()) return c.out.bulk(my_id);
    return c.out.error("CLUSTERDOWN The cluster is not initialized: no node id (CLUSTERX SETNODEID)");
  }
  if (sub == "info" && c.args.size() == 2) {
    const std::size_t assigned = topology ? topology->slots_assigned : 0;
    const bool ok = assigned == resp::kSlots;
    std::string text = std::string("cluster_state:") + (ok ? "ok" : "fail") +
                       "\r\ncluster_slots_assigned:" + std::to_string(assigned) +
                       "\r\ncluster_slots_ok:" + std::to_string(assigned) +
                       "\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:" +
                       std::to_string(topology ? topology->nodes.size() : 0) +
                       "\r\ncluster_size:" + std::to_string(topology ? topology->nodes.size() : 0) +
                       "\r\ncluster_current_epoch:" + std::to_string(topology ? topology->version : 0) +
                       "\r\ncluster_my_epoch:" + std::to_string(topology ? topology->version : 0) +
                       "\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n";
    return c.out.bulk(text);
  }
  if (sub == "countkeysinslot" || sub == "getkeysinslot") {
    return c.out.error("ERR CLUSTER " + lower(c.args[1]) +
                       " is not supported: the store keeps only hashes of keys, not the keys themselves");
  }
  if (!topology && (sub == "slots" || sub == "shards" || sub == "nodes")) {
    if (sub == "nodes") return c.out.bulk(std::string_view());
    return c.out.array(0);
  }
  if (sub == "slots" && c.args.size() == 2) {
    std::size_t count = 0;
    for (const auto& node : topology->nodes) count += node.ranges.size();
    c.out.array(count);
    for (const auto& node : topology->nodes) {
      for (const auto& [first, last] : node.ranges) {
        c.out.array(3);
        c.out.integer(first);
        c.out.integer(last);
        c.out.array(4);
        c.out.bulk(node.host);
        c.out.integer(node.port);
        c.out.bulk(node.id);
        c.out.array(0);
      }
    }
    return;
  }
  if (sub == "shards" && c.args.size() == 2) {
    c.out.array(topology->nodes.size());
    for (const auto& node : topology->nodes) {
      c.out.array(4);
      c.out.bulk("slots");
      c.out.array(node.ranges.size() * 2);
      for (const auto& [first, last] : node.ranges) {
        c.out.integer(first);
        c.out.integer(last);
      }
      c.out.bulk("nodes");
      c.out.array(1);
      c.out.array(14);
      c.out.bulk("id");
      c.out.bulk(node.id);
      c.out.bulk("port");
      c.out.integer(node.port);
      c.out.bulk("ip");
      c.out.bulk(node.host);
      c.out.bulk("endpoint");
      c.out.bulk(node.host);
      c.out.bulk("role");
      c.out.bulk("master");
      c.out.bulk("replication-offset");
      c.out.integer(0);
      c.out.bulk("health");
      c.out.bulk("online");
    }
    return;
  }
  if (sub == "nodes" && c.args.size() == 2) {
    std::string text;
    for (const auto& node : topology->nodes) {
      text += node.id + " " + node.host + ":" + std::to_string(node.port) + "@" +
              std::to_string(static_cast<unsigned>(node.port) + 10000u) + " " +
              (&node == me ? "myself,master" : "master") + " - 0 0 " + std::to_string(topology->version) +
              " connected";
      for (const auto& [first, last] : node.ranges) {
        text += " " + std::to_string(first);
        if (last != first) text += "-" + std::to_string(last);
      }
      text += "\n";
    }
    return c.out.bulk(text);
  }
  c.out.error("ERR unknown subcommand '" + std::string(c.args[1]).substr(0, 128) + "'. Try CLUSTER HELP.");
}

void cmd_clusterx(Context& c) {
  if (!c.shared.cluster.enabled()) return c.out.error("ERR This instance has cluster support disabled");
  const std::string sub = lower(c.args[1]);
  if (sub == "version" && c.args.size() == 2) {
    const auto topology = c.shared.cluster.topology();
    return c.out.integer(topology ? topology->version : -1);
  }
  if (sub == "setnodeid" && c.args.size() == 3) {
    if (c.args[2].size() != 40) return c.out.error("ERR Invalid node id: 40 characters [0-9a-zA-Z]");
    c.shared.cluster.set_my_id(std::string(c.args[2]));
    return c.out.simple("OK");
  }
  if (sub == "setnodes" && (c.args.size() == 4 || c.args.size() == 5)) {
    std::int64_t version = 0;
    if (!resp::parse_int64(c.args[3], version) || version < 0) return c.out.error("ERR Invalid cluster version");
    bool force = false;
    if (c.args.size() == 5) {
      if (!iequals(c.args[4], "force")) return syntax_error(c);
      force = true;
    }
    std::string error;
    auto topology = parse_topology(c.args[2], false, error);
    if (!topology) return c.out.error("ERR Invalid cluster nodes info: " + error);
    topology->version = version;
    const std::string refused = c.shared.cluster.install(std::move(*topology), force);
    if (!refused.empty()) return c.out.error(refused);
    return c.out.simple("OK");
  }
  c.out.error("ERR unknown subcommand '" + std::string(c.args[1]).substr(0, 128) + "'. Try CLUSTERX SETNODES.");
}

// Redirects a keyed command in cluster mode: false when a reply was written.
bool route(Context& c, const Spec& spec) {
  const auto positions = key_positions(spec, c.args.size());
  if (positions.empty()) return true;
  const std::uint16_t slot = resp::key_slot(c.args[positions[0]]);
  for (std::size_t i = 1; i < positions.size(); ++i) {
    if (resp::key_slot(c.args[positions[i]]) != slot) {
      c.out.error("CROSSSLOT Keys in request don't hash to the same slot");
      return false;
    }
  }
  const auto topology = c.shared.cluster.topology();
  if (!topology || topology->owner[slot] < 0) {
    c.out.error("CLUSTERDOWN Hash slot not served");
    return false;
  }
  const ClusterNode& owner = topology->nodes[static_cast<std::size_t>(topology->owner[slot])];
  const ClusterNode* me = my_node(c.shared, *topology, c.shared.cluster.my_id());
  if (&owner == me) return true;
  c.out.error("MOVED " + std::to_string(slot) + " " + owner.host + ":" + std::to_string(owner.port));
  return false;
}

void unknown_command(Context& c) {
  std::string text = "ERR unknown command '";
  text.append(c.args[0].substr(0, 128));
  text.append("', with args beginning with: ");
  for (std::size_t i = 1; i < c.args.size() && text.size() < 512; ++i) {
    text.push_back('\'');
    text.append(c.args[i].substr(0, 128));
    text.append("' ");
  }
  c.out.error(text);
}

}  // namespace

RespPlacement resp_placement(std::string_view name) noexcept {
  const Spec* spec = find_spec(name);
  if (spec == nullptr) return RespPlacement::kEventLoop;
  // DBSIZE and INFO walk the records appended since the last count (RedisKeyspace);
  // SAVE waits for fdatasync.
  if (spec->handler == cmd_dbsize || spec->handler == cmd_info || spec->handler == cmd_save) {
    return RespPlacement::kWorkerPool;
  }
  return spec->writes ? RespPlacement::kWrite : RespPlacement::kEventLoop;
}

void resp_execute(ServerContext& context, RespShared& shared, RespClient& client, Args args, ReplyWriter& out,
                  bool holds_key_write_lock) {
  Context c{context, shared, client, args, out, holds_key_write_lock};
  shared.commands.fetch_add(1, std::memory_order_relaxed);
  context.requests.fetch_add(1, std::memory_order_relaxed);
  const Spec* spec = find_spec(args[0]);
  if (spec == nullptr) {
    if (!context.options.token.empty() && !client.authenticated) return out.error("NOAUTH Authentication required.");
    return unknown_command(c);
  }
  if (!context.options.token.empty() && !client.authenticated && spec->flags.find("no_auth") == std::string_view::npos) {
    return out.error("NOAUTH Authentication required.");
  }
  if (!arity_ok(*spec, args.size())) return wrong_arity(c, spec->name);
  if (spec->writes && context.store.is_read_only()) {
    return out.error("READONLY You can't write against a read only replica.");
  }
  if (shared.cluster.enabled() && !route(c, *spec)) return;
  if (context.store.is_read_only()) context.refresh_if_due();
  // A command that fails after starting its reply (SET ... GET) answers with the
  // error alone.
  const std::size_t reply_start = out.buffer().size();
  try {
    spec->handler(c);
  } catch (const Error& error) {
    out.truncate(reply_start);
    out.error(std::string("ERR ") + error.what());
  } catch (const std::bad_alloc&) {
    out.truncate(reply_start);
    out.error("ERR out of memory");
  } catch (const std::exception& error) {
    out.truncate(reply_start);
    out.error(std::string("ERR ") + error.what());
  }
}

}  // namespace simd_r_drive::net::server
