// The fatal check of every fuzz target: a failed invariant is printed with where it
// failed (scripts/run-fuzz.sh looks for "invariant failed"), then the process aborts,
// which libFuzzer reports as a crash and saves the input for.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace srd_fuzz {

[[noreturn]] inline void fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace srd_fuzz

// SRD_CHECK(condition) or SRD_CHECK(condition, what): `what` (a std::string or a C
// string) says more than the condition's text.
#define SRD_CHECK_2(condition, what)                                                                      \
  do {                                                                                                    \
    if (!(condition)) ::srd_fuzz::fail(__FILE__, __LINE__, std::string(#condition) + " -- " + (what)); \
  } while (0)
#define SRD_CHECK_1(condition)                                            \
  do {                                                                    \
    if (!(condition)) ::srd_fuzz::fail(__FILE__, __LINE__, #condition); \
  } while (0)
#define SRD_CHECK_PICK(_1, _2, name, ...) name
#define SRD_CHECK(...) SRD_CHECK_PICK(__VA_ARGS__, SRD_CHECK_2, SRD_CHECK_1, unused)(__VA_ARGS__)
