// srd-net-example: the network client in a few lines (docs/net.md). Run the server
// first (make run), then:
//
//   build/bin/srd-net-example ws://127.0.0.1:7878/ws                 # a small tour
//   build/bin/srd-net-example ws://127.0.0.1:7878/ws greeting hello  # write
//   build/bin/srd-net-example ws://127.0.0.1:7878/ws greeting        # read
//
// A token, when the server needs one, comes from SRD_SERVER_TOKEN.
#include <simd_r_drive/net/client.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: srd-net-example URL [KEY [VALUE]]\n");
    return 2;
  }
  simd_r_drive::net::ClientOptions options;
  if (const char* token = std::getenv("SRD_SERVER_TOKEN")) options.token = token;
  try {
    simd_r_drive::net::Client client(argv[1], options);
    if (argc == 4) {
      std::printf("wrote '%s'; the store's tail is now %llu\n", argv[2],
                  static_cast<unsigned long long>(client.write(argv[2], argv[3])));
    } else if (argc == 3) {
      const auto value = client.read(argv[2]);
      if (!value) {
        std::printf("'%s' is not in the store\n", argv[2]);
        return 3;
      }
      std::printf("%.*s\n", static_cast<int>(value->size()), value->as_string_view().data());
    } else {
      client.write("greeting", "hello, world");
      const auto value = client.read("greeting");
      std::printf("greeting = %s\n", std::string(value->as_string_view()).c_str());
      std::printf("%zu live keys, %llu bytes; served by %s\n", client.len(),
                  static_cast<unsigned long long>(client.file_size()), client.server_info().server.c_str());
    }
  } catch (const simd_r_drive::net::ClientError& error) {
    std::fprintf(stderr, "srd-net-example: %s (%s, at fault: %s)\n", error.what(), error.protocol_code().c_str(),
                 std::string(simd_r_drive::net::to_string(error.fault())).c_str());
    return 1;
  }
  return 0;
}
