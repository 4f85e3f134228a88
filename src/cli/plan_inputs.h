// What `gpuslice plan` and `gpuslice render` share on the command line: the catalog, the slicing
// flags, loading manifests (or the bundled examples), exit codes and a progress line on stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kube/objects.h"
#include "plan/catalog.h"
#include "plan/slicing.h"

namespace gpuslice::cli {

struct SlicingFlags {
  std::string catalog;       // CSV path; empty: the built-in catalog
  std::string slices;        // "4", "v100=4,a10g=2"
  std::string slice_memory;  // "10Gi"
  std::string resource_name{plan::kSliceResource};
  std::string reserved_memory = "0";
  std::string config;  // device plugin config or Helm values
};

// Adds --catalog, --slices, --slice-memory, --config (mutually exclusive profile sources),
// --resource-name and --reserved-memory.
void AddSlicingFlags(CLI::App* app, SlicingFlags* flags);

struct PlanInputs {
  kube::Manifests manifests;
  plan::Catalog catalog;
  std::optional<plan::SlicingProfile> profile;  // unset when no flag names one
  std::string description;                      // "3 paths" or "the bundled examples"
};

// Loads the catalog, the manifests under `paths` (the bundled examples when empty) and the
// slicing profile the flags describe.
Result<PlanInputs> LoadPlanInputs(const std::vector<std::string>& paths, const SlicingFlags& flags);

// "built-in: us-east-1, on-demand prices of 2026-07-20" or "mine.csv: eu-west-1".
std::string CatalogDescription(const plan::Catalog& catalog);

// kExitUsage for input errors (invalid argument, not found), kExitFailure otherwise.
int ExitCodeFor(const Status& status);

// One self-overwriting line of progress on stderr, shown only when stderr is a terminal.
class ProgressLine {
 public:
  ProgressLine();
  void Update(std::string_view line);
  void Clear();

 private:
  bool enabled_;
  size_t width_ = 0;
};

}  // namespace gpuslice::cli
