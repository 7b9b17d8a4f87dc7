#include "backend.h"

#include <stdexcept>
#include <string>

namespace srd_bench {

namespace {

class ForwardingWriter final : public Writer {
 public:
  explicit ForwardingWriter(Backend& backend) : backend_(backend) {}
  void put(std::string_view key, Bytes value) override { backend_.put(key, value); }

 private:
  Backend& backend_;
};

}  // namespace

void Backend::set_durability(Durability durability) {
  if (!supports(durability)) throw std::logic_error(std::string(name()) + " has no such durability mode");
  durability_ = durability;
}

std::unique_ptr<Writer> Backend::writer() { return std::make_unique<ForwardingWriter>(*this); }

IterationSum Backend::iterate_sum_parallel() {
  throw std::logic_error(std::string(name()) + " has no parallel iteration");
}

std::uint64_t Backend::bytes_on_disk(const std::filesystem::path& dir) const {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(dir)) return fs::file_size(dir);
  std::uint64_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

}  // namespace srd_bench
