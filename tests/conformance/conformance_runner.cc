#include "conformance_runner.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include <simd_r_drive/error.h>
#include <simd_r_drive/hashing.h>

namespace srd_conformance {

namespace {

using nlohmann::json;

std::filesystem::path cases_dir() {
  const char* from_env = std::getenv("SRD_CONFORMANCE_CASES_DIR");
  return from_env != nullptr ? from_env : SRD_CONFORMANCE_CASES_DIR;
}

json load_case(const std::string& name) {
  std::ifstream in(cases_dir() / (name + ".json"));
  if (!in) throw std::runtime_error("no conformance case " + name + " in " + cases_dir().string());
  return json::parse(in);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  throw std::runtime_error(std::string("bad hex digit '") + c + "'");
}

Bytes pattern(std::size_t n) {
  Bytes out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 31 + n) % 251 + 1);
  return out;
}

// A key or value as the case writes it: a string, {"hex": ...} or {"pattern": n}.
Bytes bytes_of(const json& spec) {
  if (spec.is_string()) return spec.get<std::string>();
  if (spec.contains("hex")) {
    const std::string hex = spec["hex"].get<std::string>();
    Bytes out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
      out.push_back(static_cast<char>(hex_digit(hex[i]) * 16 + hex_digit(hex[i + 1])));
    }
    return out;
  }
  if (spec.contains("pattern")) return pattern(spec["pattern"].get<std::size_t>());
  throw std::runtime_error("not a byte string: " + spec.dump());
}

std::optional<Bytes> optional_bytes_of(const json& spec) {
  if (spec.is_null()) return std::nullopt;
  return bytes_of(spec);
}

std::vector<Bytes> keys_of(const json& list) {
  std::vector<Bytes> keys;
  for (const json& key : list) keys.push_back(bytes_of(key));
  return keys;
}

std::uint64_t hash_of(const Bytes& key) { return simd_r_drive::compute_hash(key); }

// Shortens long values in failure messages.
std::string shown(const std::optional<Bytes>& value) {
  if (!value) return "(absent)";
  if (value->size() <= 64) return "\"" + *value + "\"";
  return "(" + std::to_string(value->size()) + " bytes)";
}

void expect_value(const std::optional<Bytes>& got, const std::optional<Bytes>& want) {
  EXPECT_EQ(got.has_value(), want.has_value()) << "got " << shown(got) << ", want " << shown(want);
  if (got && want) { EXPECT_TRUE(*got == *want) << "got " << shown(got) << ", want " << shown(want); }
}

void expect_values(const std::vector<std::optional<Bytes>>& got, const json& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("item " + std::to_string(i));
    expect_value(got[i], optional_bytes_of(want[i]));
  }
}

void expect_stats(const simd_r_drive::StoreStats& got, const json& want) {
  const std::map<std::string, std::uint64_t> fields = {
      {"file_size", got.file_size},       {"entries", got.entries},
      {"live_keys", got.live_keys},       {"tombstones", got.tombstones},
      {"stale_entries", got.stale_entries}, {"live_payload_bytes", got.live_payload_bytes},
      {"reclaimable_bytes", got.reclaimable_bytes}};
  for (const auto& [name, value] : want.items()) {
    ASSERT_TRUE(fields.count(name)) << "unknown stats field " << name;
    EXPECT_EQ(fields.at(name), value.get<std::uint64_t>()) << name;
  }
}

void expect_entries(StoreUnderTest& store, const std::map<std::uint64_t, Bytes>& want) {
  std::map<std::uint64_t, Bytes> got;
  for (auto& [key_hash, value] : store.entries()) {
    EXPECT_TRUE(got.emplace(key_hash, std::move(value)).second) << "key hash " << key_hash << " listed twice";
  }
  EXPECT_EQ(got.size(), want.size());
  for (const auto& [key_hash, value] : want) {
    const auto it = got.find(key_hash);
    if (it == got.end()) {
      ADD_FAILURE() << "live key hash " << key_hash << " missing from entries()";
    } else {
      EXPECT_TRUE(it->second == value) << "key hash " << key_hash << ": got " << shown(it->second) << ", want "
                                       << shown(value);
    }
  }
}

// The random walk of README.md.
class RandomWalk {
 public:
  RandomWalk(StoreUnderTest& store, const json& step)
      : store_(store),
        state_(step.at("seed").get<std::uint64_t>()),
        count_(step.at("count").get<std::uint64_t>()),
        keys_(step.at("keys").get<std::uint64_t>()),
        compact_(step.value("compact", false)) {}

  void run() {
    // The walk starts from what the store holds now.
    for (auto& [key_hash, value] : store_.entries()) model_[key_hash] = std::move(value);
    for (std::uint64_t i = 0; i < count_ && !::testing::Test::HasFatalFailure(); ++i) {
      SCOPED_TRACE("random operation " + std::to_string(i));
      one(i);
    }
    expect_entries(store_, model_);
  }

 private:
  std::uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  Bytes key() { return "k" + std::to_string(next() % keys_); }
  Bytes value(std::uint64_t n) {
    const std::size_t length = 1 + next() % 200;
    const std::string unit = "v" + std::to_string(n) + ":";
    Bytes out;
    while (out.size() < length) out += unit;
    out.resize(length);
    return out;
  }
  std::optional<Bytes> modelled(const Bytes& key) const {
    const auto it = model_.find(hash_of(key));
    if (it == model_.end()) return std::nullopt;
    return it->second;
  }

  void one(std::uint64_t i) {
    const std::uint64_t r = next() % 100;
    if (r < 35) {
      const Bytes k = key();
      const Bytes v = value(i);
      store_.write(k, v);
      model_[hash_of(k)] = v;
    } else if (r < 45) {
      const std::uint64_t n = 1 + next() % 4;
      std::vector<std::pair<Bytes, Bytes>> items;
      for (std::uint64_t j = 0; j < n; ++j) {
        Bytes k = key();
        Bytes v = value(i * 16 + j);
        items.emplace_back(std::move(k), std::move(v));
      }
      store_.batch_write(items);
      for (const auto& [k, v] : items) model_[hash_of(k)] = v;
    } else if (r < 55) {
      const Bytes k = key();
      store_.remove(k);
      model_.erase(hash_of(k));
    } else if (r < 60) {
      const std::uint64_t n = 1 + next() % 3;
      std::vector<Bytes> keys;
      for (std::uint64_t j = 0; j < n; ++j) keys.push_back(key());
      store_.batch_remove(keys);
      for (const Bytes& k : keys) model_.erase(hash_of(k));
    } else if (r < 65) {
      const Bytes a = key();
      const Bytes b = key();
      const std::optional<Bytes> value = modelled(a);
      std::string code = "none";
      try {
        store_.rename(a, b);
      } catch (const simd_r_drive::Error& error) {
        code = std::string(simd_r_drive::to_string(error.code()));
      }
      if (a == b) {
        EXPECT_EQ(code, "invalid_argument");
      } else if (!value) {
        EXPECT_EQ(code, "not_found");
      } else {
        EXPECT_EQ(code, "none");
        model_[hash_of(b)] = *value;
        model_.erase(hash_of(a));
      }
    } else if (r < 85) {
      const Bytes k = key();
      expect_value(store_.read(k), modelled(k));
    } else if (r < 90) {
      const Bytes k = key();
      EXPECT_EQ(store_.exists(k), modelled(k).has_value()) << k;
    } else if (r < 95) {
      const std::uint64_t n = 1 + next() % 5;
      std::vector<Bytes> keys;
      for (std::uint64_t j = 0; j < n; ++j) keys.push_back(key());
      const auto got = store_.batch_read(keys);
      ASSERT_EQ(got.size(), keys.size());
      for (std::size_t j = 0; j < keys.size(); ++j) expect_value(got[j], modelled(keys[j]));
    } else if (r < 97 || !compact_) {
      EXPECT_EQ(store_.len(), model_.size());
    } else {
      store_.compact();
    }
  }

  StoreUnderTest& store_;
  std::uint64_t state_;
  std::uint64_t count_;
  std::uint64_t keys_;
  bool compact_;
  std::map<std::uint64_t, Bytes> model_;  // key hash -> value
};

// Runs one step's operation; returns false when the case cannot go on here (reopen
// unsupported: the case is skipped).
bool run_step(StoreUnderTest& store, const json& step) {
  const std::string op = step.at("op").get<std::string>();
  const bool checks = step.contains("expect");
  const json& want = checks ? step["expect"] : json();
  auto expect_tail = [&](std::uint64_t tail) {
    if (checks) { EXPECT_EQ(tail, want.get<std::uint64_t>()) << "tail"; }
  };
  if (op == "write") {
    expect_tail(store.write(bytes_of(step["key"]), bytes_of(step["value"])));
  } else if (op == "write_stream") {
    expect_tail(store.write_stream(bytes_of(step["key"]), bytes_of(step["value"])));
  } else if (op == "write_with_key_hash") {
    expect_tail(store.write_with_key_hash(step["hash"].get<std::uint64_t>(), bytes_of(step["value"])));
  } else if (op == "batch_write") {
    std::vector<std::pair<Bytes, Bytes>> items;
    for (const json& item : step["items"]) items.emplace_back(bytes_of(item[0]), bytes_of(item[1]));
    expect_tail(store.batch_write(items));
  } else if (op == "batch_write_with_key_hashes") {
    std::vector<std::pair<std::uint64_t, Bytes>> items;
    for (const json& item : step["items"]) items.emplace_back(item[0].get<std::uint64_t>(), bytes_of(item[1]));
    expect_tail(store.batch_write_with_key_hashes(items));
  } else if (op == "read") {
    const auto got = store.read(bytes_of(step["key"]));
    if (checks) expect_value(got, optional_bytes_of(want));
  } else if (op == "read_with_key_hash") {
    const auto got = store.read_with_key_hash(step["hash"].get<std::uint64_t>());
    if (checks) expect_value(got, optional_bytes_of(want));
  } else if (op == "batch_read") {
    const auto got = store.batch_read(keys_of(step["keys"]));
    if (checks) expect_values(got, want);
  } else if (op == "batch_read_hashed_keys") {
    const auto got = store.batch_read_hashed_keys(step["hashes"].get<std::vector<std::uint64_t>>());
    if (checks) expect_values(got, want);
  } else if (op == "read_metadata") {
    const Bytes key = bytes_of(step["key"]);
    const auto got = store.read_metadata(key);
    if (checks && want.is_null()) {
      EXPECT_FALSE(got.has_value());
    } else if (checks) {
      EXPECT_TRUE(got.has_value());
      if (got) {
        EXPECT_EQ(got->key_hash, want.value("key_hash", hash_of(key)));
        if (want.contains("prev_offset")) { EXPECT_EQ(got->prev_offset, want["prev_offset"].get<std::uint64_t>()); }
        if (want.contains("checksum")) { EXPECT_EQ(got->checksum, want["checksum"].get<std::uint32_t>()); }
        if (want.contains("payload_offset")) { EXPECT_EQ(got->payload_offset, want["payload_offset"].get<std::uint64_t>()); }
        if (want.contains("payload_size")) { EXPECT_EQ(got->payload_size, want["payload_size"].get<std::uint64_t>()); }
      }
    }
  } else if (op == "exists") {
    const bool got = store.exists(bytes_of(step["key"]));
    if (checks) { EXPECT_EQ(got, want.get<bool>()); }
  } else if (op == "exists_with_key_hash") {
    const bool got = store.exists_with_key_hash(step["hash"].get<std::uint64_t>());
    if (checks) { EXPECT_EQ(got, want.get<bool>()); }
  } else if (op == "delete") {
    expect_tail(store.remove(bytes_of(step["key"])));
  } else if (op == "batch_delete") {
    expect_tail(store.batch_remove(keys_of(step["keys"])));
  } else if (op == "rename") {
    expect_tail(store.rename(bytes_of(step["old"]), bytes_of(step["new"])));
  } else if (op == "len") {
    const std::uint64_t got = store.len();
    if (checks) { EXPECT_EQ(got, want.get<std::uint64_t>()); }
  } else if (op == "is_empty") {
    const bool got = store.is_empty();
    if (checks) { EXPECT_EQ(got, want.get<bool>()); }
  } else if (op == "file_size") {
    const std::uint64_t got = store.file_size();
    if (checks) { EXPECT_EQ(got, want.get<std::uint64_t>()); }
  } else if (op == "stats") {
    const auto got = store.stats();
    if (checks) expect_stats(got, want);
  } else if (op == "entries") {
    std::map<std::uint64_t, Bytes> expected;
    for (const json& pair : want) expected[hash_of(bytes_of(pair[0]))] = bytes_of(pair[1]);
    expect_entries(store, expected);
  } else if (op == "verify_ok") {
    const bool got = store.verify_ok();
    if (checks) { EXPECT_EQ(got, want.get<bool>()); }
  } else if (op == "compact") {
    store.compact();
  } else if (op == "sync") {
    store.sync();
  } else if (op == "reopen") {
    if (!store.reopen()) return false;
  } else if (op == "random") {
    RandomWalk(store, step).run();
  } else {
    ADD_FAILURE() << "unknown operation '" << op << "'";
  }
  return true;
}

class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "srd-conformance-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& item : std::filesystem::directory_iterator(cases_dir())) {
    if (item.path().extension() == ".json") names.push_back(item.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

void run_case(const std::string& case_name, const StoreFactory& factory) {
  const json test_case = load_case(case_name);
  TemporaryDirectory dir;
  std::unique_ptr<StoreUnderTest> store = factory((dir.path() / "store.bin").string());
  ASSERT_TRUE(store != nullptr);
  const json& steps = test_case.at("steps");
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const json& step = steps[i];
    SCOPED_TRACE(case_name + " step " + std::to_string(i) + ": " + step.dump().substr(0, 200));
    if (step.contains("error")) {
      const std::uint64_t size_before = store->file_size();
      std::string code = "no error";
      try {
        run_step(*store, step);
      } catch (const simd_r_drive::Error& error) {
        code = std::string(simd_r_drive::to_string(error.code()));
      }
      EXPECT_EQ(code, step["error"].get<std::string>());
      EXPECT_EQ(store->file_size(), size_before) << "a refused operation changed the store";
      continue;
    }
    bool go_on = true;
    try {
      go_on = run_step(*store, step);
    } catch (const std::exception& error) {
      ADD_FAILURE() << "unexpected exception: " << error.what();
    }
    if (!go_on) GTEST_SKIP() << "this store cannot " << step["op"].get<std::string>();
    if (::testing::Test::HasFatalFailure()) return;
  }
}

void register_conformance_suite(const std::string& suite, StoreFactory factory) {
  for (const std::string& name : case_names()) {
    ::testing::RegisterTest(suite.c_str(), name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [name, factory]() -> ::testing::Test* {
                              class Case : public ::testing::Test {
                               public:
                                Case(std::string case_name, StoreFactory store_factory)
                                    : case_name_(std::move(case_name)), factory_(std::move(store_factory)) {}
                                void TestBody() override { run_case(case_name_, factory_); }

                               private:
                                std::string case_name_;
                                StoreFactory factory_;
                              };
                              return new Case(name, factory);
                            });
  }
}

}  // namespace srd_conformance
