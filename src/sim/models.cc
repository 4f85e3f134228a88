#include "sim/models.h"

#include <strings.h>

#include <array>

namespace gpuslice::sim {
namespace {

constexpr int kMiB = 1 << 20;

// Facts of the SXM/PCIe boards the clouds rent, from NVIDIA's product specifications and what
// NVML reports on those instances. Memory is the total nvidia-smi shows, not the marketing
// size (an "80GB" H100 reports 81559 MiB).
constexpr std::array kModels = {
    GpuModel{"H100-80GB", "NVIDIA H100 80GB HBM3", 81559, 0x233010DE, 0x16C110DE, 9, 0, 132,
             1980000, 2619000, 5120, 50 * kMiB, 2048, 233472, 232448},
    GpuModel{"H200", "NVIDIA H200", 143771, 0x233510DE, 0x18B010DE, 9, 0, 132, 1980000, 3201000,
             6144, 50 * kMiB, 2048, 233472, 232448},
    GpuModel{"B200", "NVIDIA B200", 183359, 0x290110DE, 0x199910DE, 10, 0, 148, 1965000, 3996000,
             8192, 126 * kMiB, 2048, 233472, 232448},
    GpuModel{"A100-40GB", "NVIDIA A100-SXM4-40GB", 40960, 0x20B010DE, 0x134F10DE, 8, 0, 108,
             1410000, 1215000, 5120, 40 * kMiB, 2048, 167936, 166912},
    GpuModel{"A100-80GB", "NVIDIA A100-SXM4-80GB", 81920, 0x20B210DE, 0x147F10DE, 8, 0, 108,
             1410000, 1593000, 5120, 40 * kMiB, 2048, 167936, 166912},
    GpuModel{"A10G", "NVIDIA A10G", 23028, 0x223710DE, 0x152F10DE, 8, 6, 80, 1710000, 6251000, 384,
             6 * kMiB, 1536, 102400, 101376},
    GpuModel{"A10", "NVIDIA A10", 23028, 0x223610DE, 0x148210DE, 8, 6, 72, 1695000, 6251000, 384,
             6 * kMiB, 1536, 102400, 101376},
    GpuModel{"L4", "NVIDIA L4", 23034, 0x27B810DE, 0x16CA10DE, 8, 9, 58, 2040000, 6251000, 192,
             48 * kMiB, 1536, 102400, 101376},
    GpuModel{"L40S", "NVIDIA L40S", 46068, 0x26B910DE, 0x185110DE, 8, 9, 142, 2520000, 9001000, 384,
             96 * kMiB, 1536, 102400, 101376},
    GpuModel{"T4", "Tesla T4", 15360, 0x1EB810DE, 0x12A210DE, 7, 5, 40, 1590000, 5001000, 256,
             4 * kMiB, 1024, 65536, 65536},
    GpuModel{"V100-16GB", "Tesla V100-SXM2-16GB", 16384, 0x1DB110DE, 0x121210DE, 7, 0, 80, 1530000,
             877000, 4096, 6 * kMiB, 2048, 98304, 98304},
    GpuModel{"V100-32GB", "Tesla V100-SXM2-32GB", 32768, 0x1DB510DE, 0x124910DE, 7, 0, 80, 1530000,
             877000, 4096, 6 * kMiB, 2048, 98304, 98304},
    GpuModel{"P100", "Tesla P100-PCIE-16GB", 16384, 0x15F810DE, 0x118F10DE, 6, 0, 56, 1328500,
             715000, 4096, 4 * kMiB, 2048, 65536, 49152},
};

}  // namespace

std::span<const GpuModel> AllModels() { return kModels; }

const GpuModel* FindModel(std::string_view key) {
  for (const GpuModel& model : kModels) {
    if (model.key.size() == key.size() &&
        strncasecmp(model.key.data(), key.data(), key.size()) == 0) {
      return &model;
    }
  }
  return nullptr;
}

std::string ModelKeyList() {
  std::string list;
  for (const GpuModel& model : kModels) {
    if (!list.empty()) list += ", ";
    list += model.key;
  }
  return list;
}

}  // namespace gpuslice::sim
