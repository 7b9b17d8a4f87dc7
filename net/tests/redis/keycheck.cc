// srd_resp_keycheck STORE: opens STORE read-only with the C++ API (a follower, so the
// server that writes it may keep running) and checks the keys given on stdin, one per
// line: "KEY<TAB>VALUE" must be there with that value as a plain entry, "KEY" alone
// must not be there in any form. Prints "checked N, wrong M" and the first wrong keys;
// exit 0 when none is wrong. The cluster tests use it to see that every key is in the
// store of the node that owns its slot, and only there.
#include <simd_r_drive/simd_r_drive.h>

#include <cstdio>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: srd_resp_keycheck STORE < keys\n");
    return 2;
  }
  simd_r_drive::OpenOptions options;
  options.read_only = true;
  auto store = simd_r_drive::DataStore::open_existing(argv[1], options);
  std::string line;
  std::size_t checked = 0;
  std::size_t wrong = 0;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    ++checked;
    const auto tab = line.find('\t');
    const std::string key = line.substr(0, tab);
    const auto handle = store.read(key);
    bool ok;
    if (tab == std::string::npos) {
      ok = !handle;
    } else {
      const std::string value = line.substr(tab + 1);
      ok = handle && std::string(reinterpret_cast<const char*>(handle->data()), handle->size()) == value;
    }
    if (!ok && ++wrong <= 5) std::printf("wrong: %s\n", line.c_str());
  }
  std::printf("checked %zu, wrong %zu\n", checked, wrong);
  return wrong == 0 && checked > 0 ? 0 : 1;
}
