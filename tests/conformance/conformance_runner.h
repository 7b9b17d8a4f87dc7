// The conformance runner: loads the cases (cases/*.json, README.md) and runs them,
// step by step, against a StoreUnderTest, reporting mismatches through GoogleTest.
//
// A test binary registers its stores with register_conformance_suite(name, factory):
// one GoogleTest test per (store, case), named "<name>.<case>".
//
// Thread-safety: call from main/test registration only.
#pragma once

#include <string>
#include <vector>

#include "store_under_test.h"

namespace srd_conformance {

// The case files' names (without ".json"), from SRD_CONFORMANCE_CASES_DIR.
std::vector<std::string> case_names();

// Runs one case on a fresh store made by `factory` in a temporary directory.
void run_case(const std::string& case_name, const StoreFactory& factory);

// Registers one test per case under the suite `suite` (call before RUN_ALL_TESTS,
// e.g. from a static initializer).
void register_conformance_suite(const std::string& suite, StoreFactory factory);

}  // namespace srd_conformance
