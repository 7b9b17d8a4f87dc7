#include "backend_registry.h"

namespace srd_bench {

// Defined in backends/<store>.cc; CMake defines SRD_BENCH_WITH_<STORE> for each
// peer it found.
std::unique_ptr<Backend> make_srd_backend();
std::unique_ptr<Backend> make_lmdb_backend();
std::unique_ptr<Backend> make_rocksdb_backend();
std::unique_ptr<Backend> make_leveldb_backend();
std::unique_ptr<Backend> make_sqlite_backend();
std::unique_ptr<Backend> make_tkrzw_backend();
std::unique_ptr<Backend> make_kyoto_backend();

const std::vector<std::string>& known_stores() {
  static const std::vector<std::string> stores = {"srd", "lmdb", "rocksdb", "leveldb", "sqlite", "tkrzw", "kyoto"};
  return stores;
}

std::unique_ptr<Backend> make_backend(std::string_view name) {
  if (name == "srd") return make_srd_backend();
#ifdef SRD_BENCH_WITH_LMDB
  if (name == "lmdb") return make_lmdb_backend();
#endif
#ifdef SRD_BENCH_WITH_ROCKSDB
  if (name == "rocksdb") return make_rocksdb_backend();
#endif
#ifdef SRD_BENCH_WITH_LEVELDB
  if (name == "leveldb") return make_leveldb_backend();
#endif
#ifdef SRD_BENCH_WITH_SQLITE
  if (name == "sqlite") return make_sqlite_backend();
#endif
#ifdef SRD_BENCH_WITH_TKRZW
  if (name == "tkrzw") return make_tkrzw_backend();
#endif
#ifdef SRD_BENCH_WITH_KYOTO
  if (name == "kyoto") return make_kyoto_backend();
#endif
  return nullptr;
}

}  // namespace srd_bench
