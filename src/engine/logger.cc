#include "engine/logger.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "simd_r_drive/logging.h"

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

void library_logger_level(spdlog::level::level_enum level) noexcept { library_logger().set_level(level); }

void log_error(std::string_view message) { library_logger().error("{}", message); }
void log_warning(std::string_view message) { library_logger().warn("{}", message); }
void log_info(std::string_view message) { library_logger().info("{}", message); }

}  // namespace simd_r_drive::engine

namespace simd_r_drive {

void set_log_level(LogLevel level) noexcept {
  spdlog::level::level_enum mapped = spdlog::level::info;
  switch (level) {
    case LogLevel::kOff: mapped = spdlog::level::off; break;
    case LogLevel::kError: mapped = spdlog::level::err; break;
    case LogLevel::kWarning: mapped = spdlog::level::warn; break;
    case LogLevel::kInfo: mapped = spdlog::level::info; break;
  }
  engine::library_logger_level(mapped);
}

}  // namespace simd_r_drive
