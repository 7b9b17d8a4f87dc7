// Files in a store: a directory tree imported file by file, each under its path
// relative to the directory, as the original's StorageFileImportExt
// (docs/extensions.md, "Directory import").
//
// A file's key is its path relative to the imported directory, its components joined
// with '/' ("css/main.css"), optionally in a namespace: NamespaceHasher(namespace) over
// that path, 16 bytes. file_key() is the one place that derives it, from the import's
// side and from the reader's (read_file_entry, open_file_stream, the CLI's export).
//
// Unlike the original, a file that cannot be imported (empty, all 0x00 bytes,
// unreadable, not a regular file) is reported and skipped, and the import goes on: the
// report says what was imported and what was skipped, and why. Files are imported in
// key order (the original takes the order the directory lists them in), each streamed
// in 64 KiB pieces, so memory stays bounded whatever the file sizes. The store's own
// files (the store, its lock, its index snapshot, compaction's temporaries) are never
// imported, so importing the directory that holds the store cannot feed it into itself.
//
// Symbolic links: see SymlinkPolicy. The default skips them (and reports each), so an
// import takes only what is inside the tree; kFollowFiles is the original's behaviour.
//
// Thread-safety: the functions may run on several threads at once, for different
// stores or the same one (the store serialises the writes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simd_r_drive/byte_view.h>
#include <simd_r_drive/data_store.h>
#include <simd_r_drive/entry_handle.h>

#include "simd_r_drive/extensions/export.h"
#include "simd_r_drive/extensions/value_stream.h"

namespace simd_r_drive::extensions {

enum class SymlinkPolicy {
  // Links are not followed: each is reported (SkipReason::kSymbolicLink) and skipped,
  // and files are opened with O_NOFOLLOW, so a file replaced by a link after the walk
  // is not read either. The default: an import takes only what is inside the tree.
  kSkip,
  // The original's (walkdir's defaults): a link to a file is imported under the link's
  // own path, wherever it points; a link to a directory is not walked (reported).
  kFollowFiles,
  // Links to files and to directories are followed, wherever they point; a link back
  // to a directory above it (a loop) is reported and skipped.
  kFollowAll,
};

enum class SkipReason {
  kSymbolicLink,    // a link the policy does not follow
  kLoop,            // a followed directory link that leads back above itself
  kNotRegularFile,  // a FIFO, socket, device
  kStoreFile,       // the store itself, or one of its companion files
  kEmpty,           // the store cannot hold an empty value
  kAllZero,         // nor one of only 0x00 bytes (the format's delete marker)
  kUnreadable,      // could not be listed, opened or read (`detail` says why)
};
// A stable, lower-case name ("symbolic_link", "unreadable", ...).
SRD_EXT_API std::string_view to_string(SkipReason reason) noexcept;

// A file found by the walk.
struct DirectoryFile {
  std::string key;             // its path relative to the directory, '/' between parts
  std::filesystem::path path;  // where it is (the directory joined with the key)
  std::uint64_t size = 0;      // as listed (the import reads until the end, whatever it is then)
};

struct SkippedFile {
  std::filesystem::path path;
  std::string key;  // as the file would have been keyed
  SkipReason reason = SkipReason::kUnreadable;
  std::string detail;  // why, where the reason alone does not say (kUnreadable: the system's message)
};

struct ListOptions {
  SymlinkPolicy symlinks = SymlinkPolicy::kSkip;
  // When set, the files of the store at this path are left out (kStoreFile).
  std::filesystem::path store;
  // Called for each entry skipped, as the walk meets it.
  std::function<void(const SkippedFile&)> on_skipped;
};

struct DirectoryListing {
  std::vector<DirectoryFile> files;  // sorted by key
  std::vector<SkippedFile> skipped;
};

// Walks `dir` as an import does, without reading any file. Throws Error(kNotFound) if
// `dir` does not exist, Error(kInvalidArgument) if it is not a directory (a link to
// one is fine).
SRD_EXT_API DirectoryListing list_dir_recursively(const std::filesystem::path& dir, const ListOptions& options = {});

// Progress of an import, reported before each file is opened, after each piece read,
// and once at the end.
struct ImportProgress {
  enum class Stage {
    kOpening,   // `file` is about to be opened
    kReading,   // a piece of `file` was read (0 bytes: its end)
    kFinished,  // every file is done; `file` is null
  };
  Stage stage = Stage::kOpening;
  std::size_t files_total = 0;   // files listed
  std::size_t files_done = 0;    // imported or skipped so far
  std::uint64_t bytes_total = 0; // their sizes as listed
  std::uint64_t bytes_done = 0;  // bytes read so far, in all files
  const DirectoryFile* file = nullptr;  // the file at hand; valid during the call
};

struct ImportOptions {
  // Keys in this namespace (16-byte NamespaceHasher keys), as the original's
  // import_dir_recursively(dir, Some(namespace)).
  std::optional<std::string> name_space;
  SymlinkPolicy symlinks = SymlinkPolicy::kSkip;
  std::function<void(const SkippedFile&)> on_skipped;
  std::function<void(const ImportProgress&)> on_progress;
};

struct ImportedFile {
  std::string key;                     // the relative path
  std::vector<std::byte> stored_key;   // the key in the store: the path, or its 16-byte namespaced key
  std::filesystem::path path;
  std::uint64_t size = 0;              // bytes stored
  std::uint64_t tail = 0;              // the store's tail after the write
};

struct ImportReport {
  std::vector<ImportedFile> imported;  // in the order written (key order)
  std::vector<SkippedFile> skipped;    // in the order met
  std::uint64_t imported_bytes = 0;
};

// Imports every regular file under `dir` (see above). Throws as list_dir_recursively
// for a bad `dir`, and Error(kInvalidArgument) for a read-only store. A failure of the
// store itself (a full disk, say) stops the import with that error; the files imported
// before it stay.
SRD_EXT_API ImportReport import_dir_recursively(DataStore& store, const std::filesystem::path& dir,
                                                const ImportOptions& options);
SRD_EXT_API ImportReport import_dir_recursively(DataStore& store, const std::filesystem::path& dir,
                                                std::optional<ByteView> name_space = std::nullopt);

// The key a file at `relative_path` is stored under, as the original derives it: the
// path's components joined with '/', with repeated separators, a trailing separator
// and "." components in the middle dropped, as Rust's Path::components() does. A
// leading "./" stays ("./a" is the key "./a", which no import produces); a leading '/'
// is a component of its own ("/a" becomes "//a"). Names are kept as bytes (the
// original replaces bytes that are not UTF-8 with U+FFFD).
SRD_EXT_API std::vector<std::byte> file_key(std::string_view relative_path,
                                            std::optional<ByteView> name_space = std::nullopt);

// The stored file at `relative_path`, by file_key; nullopt if absent.
SRD_EXT_API std::optional<EntryHandle> read_file_entry(const DataStore& store, std::string_view relative_path,
                                                       std::optional<ByteView> name_space = std::nullopt);
// The same, as a stream that reads it in bounded memory (value_stream.h).
SRD_EXT_API std::optional<ValueStream> open_file_stream(const DataStore& store, std::string_view relative_path,
                                                        std::optional<ByteView> name_space = std::nullopt);

}  // namespace simd_r_drive::extensions
