// CDI (Container Device Interface) spec files: how a prepared claim reaches its containers.
// The kubelet passes the CDI device IDs NodePrepareResources returned to the container runtime,
// which applies the spec's edits (environment, mounts). One spec file per claim; the edits all
// of the claim's containers share sit at the spec level, each GPU's limits on its device.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "plugin/allocator.h"

namespace gpuslice::dra {

// "<vendor>/<class>" of gpuslice's CDI devices; IDs are "gpu.gpuslice.io/claim=<name>".
inline constexpr std::string_view kCdiKind = "gpu.gpuslice.io/claim";
// The CDI version written: spec-level edits and bind-mount options need no more.
inline constexpr std::string_view kCdiVersion = "0.6.0";

struct CdiDevice {
  std::string name;              // letters, digits, '_', '.', ':', '-'
  std::vector<std::string> env;  // "NAME=value"
};

struct CdiSpec {
  std::vector<std::string> env;  // applied once per container, whatever devices it gets
  std::vector<plugin::MountSpec> mounts;
  std::vector<CdiDevice> devices;
};

// "gpu.gpuslice.io/claim=<name>".
std::string CdiDeviceId(const std::string& device_name);

// The spec as the CDI JSON document.
std::string FormatCdiSpec(const CdiSpec& spec);

// Writes `<dir>/<stem>.json` atomically (a container starting meanwhile sees the old file or
// the new one, never half of one). Returns the path, or the I/O error naming it.
Result<std::string> WriteCdiSpec(const std::string& dir, const std::string& stem,
                                 const CdiSpec& spec);

// The file name stem of a claim's spec: "gpu.gpuslice.io-<claim UID>".
std::string CdiSpecStem(const std::string& claim_uid);

}  // namespace gpuslice::dra
