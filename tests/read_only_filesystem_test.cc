// A store on a read-only file system: a read-only open reads it, and an open for
// writing fails at once with the OS's reason (EROFS), changing nothing.
//
// The file system is a tmpfs mounted and then remounted read-only in a child
// process's own mount namespace, so nothing outside the child sees it. As root that
// needs only CLONE_NEWNS; without privileges, a user namespace (CLONE_NEWUSER) grants
// the mount rights inside it where the kernel allows unprivileged user namespaces.
// Where neither works the test is skipped, saying why. (chmod cannot stand in: root
// writes to a 0444 file regardless.)
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "child_process.h"
#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::OpenOptions;
using srd_test::ChildChannel;
using srd_test::ChildProcess;

// Exit codes of the child.
constexpr int kAllChecksPassed = 0;
constexpr int kCannotMount = 50;  // no mount namespace for this process: skip
constexpr int kCheckFailed = 51;  // details on the child's stderr

bool write_text(const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// Enters a mount namespace of its own, with a user namespace if that is what it takes.
bool enter_private_mount_namespace() {
  if (::unshare(CLONE_NEWNS) != 0) {
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return false;
    (void)write_text("/proc/self/setgroups", "deny");
    if (!write_text("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_text("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return false;
    }
  }
  // Mounts made here must not propagate back to the parent's namespace.
  return ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}

int check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "check failed: %s\n", what);
  return ok ? kAllChecksPassed : kCheckFailed;
}

int child_checks(const std::filesystem::path& mount_point) {
  if (!enter_private_mount_namespace()) {
    std::fprintf(stderr, "no private mount namespace: %s\n", std::strerror(errno));
    return kCannotMount;
  }
  if (::mount("srd-test", mount_point.c_str(), "tmpfs", 0, "size=16m") != 0) {
    std::fprintf(stderr, "mount tmpfs: %s\n", std::strerror(errno));
    return kCannotMount;
  }
  const std::filesystem::path path = mount_point / "store.bin";
  std::uint64_t size = 0;
  {
    DataStore store = DataStore::open(path);
    store.write("greeting", "hello from a file system that becomes read-only");
    store.write("big", std::string(300 * 1024, 'b'));
    size = store.file_size();
  }
  if (::mount(nullptr, mount_point.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
    std::fprintf(stderr, "remount read-only: %s\n", std::strerror(errno));
    return kCannotMount;
  }
  int failed = kAllChecksPassed;
  // The file system really is read-only now.
  const int probe = ::open((mount_point / "probe").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  failed |= check(probe < 0 && errno == EROFS, "creating a file on the read-only mount fails with EROFS");
  if (probe >= 0) ::close(probe);

  OpenOptions read_only;
  read_only.read_only = true;
  try {
    const DataStore reader = DataStore::open(path, read_only);
    const auto greeting = reader.read("greeting");
    failed |= check(greeting && greeting->as_string_view() == "hello from a file system that becomes read-only",
                    "a read-only open reads the value");
    failed |= check(reader.read("big") && reader.read("big")->size() == 300 * 1024, "the large value reads");
    failed |= check(reader.verify().ok(), "verify passes");
    failed |= check(reader.len() == 2, "len() is 2");
  } catch (const std::exception& error) {
    std::fprintf(stderr, "read-only open failed: %s\n", error.what());
    failed = kCheckFailed;
  }
  const std::string message = srd_test::message_of([&] { DataStore::open(path); });
  failed |= check(srd_test::code_of([&] { DataStore::open(path); }) == "io", "an open for writing fails (kIo)");
  failed |= check(message.find("Read-only file system") != std::string::npos &&
                      message.find(path.string()) != std::string::npos,
                  "the error names the file and the reason");
  if (failed != kAllChecksPassed) std::fprintf(stderr, "writable open said: %s\n", message.c_str());
  struct stat info {};
  failed |= check(::stat(path.c_str(), &info) == 0 && static_cast<std::uint64_t>(info.st_size) == size,
                  "the store file is unchanged");
  std::fflush(stderr);
  return failed;
}

TEST(ReadOnlyFilesystem, ReadsWorkAndAnOpenForWritingFailsClearly) {
  srd_test::TempDir dir;
  const std::filesystem::path mount_point = dir.file("mnt");
  std::filesystem::create_directory(mount_point);
  const std::filesystem::path log = dir.file("child.log");
  int code = -1;
  {
    ChildProcess child([&](const ChildChannel&) { return child_checks(mount_point); }, log);
    const srd_test::ChildExit exit = child.wait();
    ASSERT_TRUE(exit.exited) << exit.describe();
    code = exit.code;
  }
  const std::vector<std::byte> bytes = srd_test::read_file(log);
  const std::string said(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (code == kCannotMount) GTEST_SKIP() << "cannot mount a read-only file system here: " << said;
  EXPECT_EQ(code, kAllChecksPassed) << said;
}

}  // namespace
