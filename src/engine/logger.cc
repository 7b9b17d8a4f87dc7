#include "engine/logger.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace simd_r_drive::engine {

namespace {

spdlog::logger& library_logger() {
  // One logger per process, created on first use; spdlog's _mt sinks are thread-safe.
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto created = std::make_shared<spdlog::logger>("simd_r_drive", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    created->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
    return created;
  }();
  return *logger;
}

}  // namespace

void log_error(std::string_view message) { library_logger().error("{}", message); }
void log_warning(std::string_view message) { library_logger().warn("{}", message); }
void log_info(std::string_view message) { library_logger().info("{}", message); }

}  // namespace simd_r_drive::engine
