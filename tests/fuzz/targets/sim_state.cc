#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "check.h"
#include "sim/process_account.h"
#include "sim/state.h"
#include "targets.h"

namespace gpuslice::fuzz {
namespace {

// A state file that processes have used: slots, memory, kernel time and XIDs are filled in.
std::string UsedStateFile() {
  char pattern[] = "/tmp/gpuslice-fuzz-XXXXXX";
  Expect(mkdtemp(pattern) != nullptr, "a temporary directory");
  const std::string path = std::string(pattern) + "/node.state";
  {
    Result<sim::SimSpec> spec = sim::ParseSpecString("2xT4,1xH100-80GB");
    Result<std::unique_ptr<sim::SimState>> state =
        sim::SimState::Create(path, *spec, "2xT4,1xH100-80GB", false);
    Expect(state.ok(), "the template state is created: " + state.status().ToString());
    Result<std::unique_ptr<sim::ProcessAccount>> account =
        sim::ProcessAccount::Register(state->get());
    Expect(account.ok(), "a process registers");
    Expect((*account)->Reserve(0, 1 << 20).ok(), "memory is reserved");
    (*account)->AddContext(1);
    (*account)->ScheduleKernel(1, 0, 1000);
    Expect((*state)->InjectXid(2, 79).ok(), "an XID is injected");
    (*state)->Usage(1);
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  std::filesystem::remove_all(pattern);
  return bytes.str();
}

}  // namespace

// The input is a list of patches on a valid, used state file, each 4 bytes of offset (little
// endian, modulo the file size), 1 byte of length and that many bytes. The patched file is
// opened and, when accepted, used as the simulated libraries use it.
int SimState(const uint8_t* data, size_t size) {
  static const std::string kTemplate = UsedStateFile();
  static const int kFd = memfd_create("gpuslice-fuzz-state", MFD_CLOEXEC);
  static const std::string kPath = "/proc/self/fd/" + std::to_string(kFd);
  Expect(kFd >= 0, "memfd_create works");

  std::string bytes = kTemplate;
  size_t at = 0;
  while (at + 5 <= size) {
    uint32_t offset = 0;
    std::memcpy(&offset, data + at, sizeof(offset));
    const size_t length = std::min<size_t>(data[at + 4], size - at - 5);
    const size_t start = offset % bytes.size();
    const size_t count = std::min(length, bytes.size() - start);
    std::memcpy(bytes.data() + start, data + at + 5, count);
    at += 5 + length;
  }
  Expect(ftruncate(kFd, 0) == 0 && pwrite(kFd, bytes.data(), bytes.size(), 0) ==
                                       static_cast<ssize_t>(bytes.size()),
         "the patched state is written");

  Result<std::unique_ptr<sim::SimState>> state =
      sim::SimState::Open(kPath, std::chrono::milliseconds(1));
  if (!state.ok()) {
    Expect(state.status().message().find(kPath) != std::string::npos,
           "state errors name the file: " + state.status().message());
    return 0;
  }
  sim::SimState& node = **state;
  for (int gpu = 0; gpu < node.gpu_count(); ++gpu) {
    const sim::GpuUsage usage = node.Usage(gpu);
    Expect(usage.memory_used <= usage.memory_total, "no GPU uses more memory than it has");
    (void)node.ProcessUtilization(gpu, 0);
    (void)node.ReadXid(gpu, node.LatestXidSequence(gpu));
  }
  (void)node.Processes();
  Expect(node.InjectXid(0, 48).ok(), "an XID is injected into an accepted file");
  Expect(node.SetLost(0, true).ok() && node.SetLost(0, false).ok(), "a GPU is lost and recovers");
  Result<std::unique_ptr<sim::ProcessAccount>> account = sim::ProcessAccount::Register(&node);
  if (account.ok()) {
    if ((*account)->Reserve(0, 4096).ok()) (*account)->Release(0, 4096);
    (*account)->AddContext(0);
    (*account)->RemoveContext(0);
  }
  return 0;
}

}  // namespace gpuslice::fuzz
