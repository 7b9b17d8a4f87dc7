// Writes, reads back and checks values through an installed SIMD R Drive: the core
// library and the extensions library (an optional value and a TTL value).
#include <simd_r_drive/extensions/extensions.h>
#include <simd_r_drive/simd_r_drive.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  namespace ext = simd_r_drive::extensions;
  auto store = simd_r_drive::DataStore::open(argv[1]);
  store.write("installed", "and linked");
  auto value = store.read("installed");
  if (!value || value->as_string_view() != "and linked") return 1;

  ext::write_option(store, "maybe", std::optional<std::string>());
  const auto none = ext::read_option<std::string>(store, "maybe");
  if (!none || none->has_value()) return 1;
  ext::write_with_ttl(store, "cached", std::uint32_t{42}, 3600);
  if (ext::read_with_ttl<std::uint32_t>(store, "cached") != std::optional<std::uint32_t>(42)) return 1;
  std::puts("consumer: ok");
  return 0;
}
