// The README's example, built as build/bin/srd-quickstart and run by `make run`:
// opens (or creates) a store, writes and reads a few values, and prints a summary.
#include <simd_r_drive/simd_r_drive.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "store.bin";
  try {
    auto store = simd_r_drive::DataStore::open(path);

    // Single writes return the store's new tail (its size in bytes).
    store.write("greeting", "hello, world");

    // A batch is one append; the values are never copied on the way in.
    std::vector<std::pair<std::string_view, std::string_view>> batch = {
        {"alpha", "first"}, {"beta", "second"}, {"gamma", "third"}};
    store.batch_write(batch);
    store.remove("beta");

    // Reads are zero-copy: the handle views the file's memory mapping directly.
    if (auto value = store.read("greeting")) {
      std::printf("greeting = %.*s (payload at offset %llu, checksum %s)\n", static_cast<int>(value->size()),
                  reinterpret_cast<const char*>(value->data()),
                  static_cast<unsigned long long>(value->start_offset()),
                  value->is_valid_checksum() ? "valid" : "INVALID");
    }
    std::printf("beta exists: %s\n", store.exists("beta") ? "yes" : "no");

    // Typed zero-copy view of a stored array.
    const std::uint64_t numbers[] = {1, 2, 3, 4};
    store.write("numbers", simd_r_drive::ByteView(reinterpret_cast<const std::byte*>(numbers), sizeof(numbers)));
    std::uint64_t sum = 0;
    for (std::uint64_t n : store.read("numbers")->as_span<std::uint64_t>()) sum += n;
    std::printf("sum of numbers = %llu\n", static_cast<unsigned long long>(sum));

    std::printf("store %s: %zu live keys, %llu bytes, %llu reclaimable by compact()\n", path, store.len(),
                static_cast<unsigned long long>(store.file_size()),
                static_cast<unsigned long long>(store.estimate_compaction_savings()));
  } catch (const simd_r_drive::Error& error) {
    std::fprintf(stderr, "error (%s): %s\n", std::string(simd_r_drive::to_string(error.code())).c_str(), error.what());
    return 1;
  }
  return 0;
}
