// Writes, reads back and checks one value through an installed SIMD R Drive.
#include <simd_r_drive/simd_r_drive.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto store = simd_r_drive::DataStore::open(argv[1]);
  store.write("installed", "and linked");
  auto value = store.read("installed");
  if (!value || value->as_string_view() != "and linked") return 1;
  std::puts("consumer: ok");
  return 0;
}
