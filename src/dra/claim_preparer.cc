#include "dra/claim_preparer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "core/contract.h"
#include "dra/cdi.h"

namespace gpuslice::dra {
namespace {

// What a container references: the request, not a subrequest of it ("gpu" for "gpu/small").
std::string BaseRequest(const std::string& request) { return request.substr(0, request.find('/')); }

}  // namespace

ClaimPreparer::ClaimPreparer(PreparerOptions options, ClaimReader read_claim, NodeState node,
                             const plugin::ContractBuilder& contract,
                             plugin::RegionStore& regions)
    : options_(std::move(options)),
      read_claim_(std::move(read_claim)),
      node_(std::move(node)),
      contract_(contract),
      regions_(regions),
      checkpoint_(options_.checkpoint_path) {}

Status ClaimPreparer::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  Status loaded = checkpoint_.Load();
  if (!loaded.ok()) {
    const std::string aside = checkpoint_.path() + ".unreadable";
    std::rename(checkpoint_.path().c_str(), aside.c_str());
    loaded = Status(loaded.code(), loaded.message() + "; moved to " + aside +
                                       " and started without prepared claims");
  }
  SweepLocked();
  return loaded;
}

void ClaimPreparer::SweepLocked() {
  // What a prepare that died before writing the checkpoint left: no claim refers to it, and
  // the kubelet prepares such a claim again.
  for (const plugin::AllocationRecord& record : regions_.Records()) {
    if (record.resource != kDriverName || record.device_ids.size() != 1) continue;
    if (checkpoint_.Find(record.device_ids[0]) == nullptr) regions_.Remove(record.directory);
  }
  const std::string prefix = CdiSpecStem("");
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(options_.cdi_dir, error)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind(prefix, 0) != 0 || entry.path().extension() != ".json") continue;
    const std::string uid = file.substr(prefix.size(), file.size() - prefix.size() - 5);
    if (checkpoint_.Find(uid) == nullptr) std::filesystem::remove(entry.path(), error);
  }
}

std::vector<PreparedClaim> ClaimPreparer::Prepared() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<PreparedClaim> claims;
  for (const auto& [uid, claim] : checkpoint_.claims()) claims.push_back(claim);
  return claims;
}

Result<PreparedClaim> ClaimPreparer::Prepare(const ClaimRef& ref) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (const PreparedClaim* prepared = checkpoint_.Find(ref.uid)) return *prepared;
  return PrepareLocked(ref);
}

Result<PreparedClaim> ClaimPreparer::PrepareLocked(const ClaimRef& ref) {
  const std::string what = "ResourceClaim " + ref.namespace_name + "/" + ref.name;
  if (ref.uid.empty() || ref.name.empty() || ref.namespace_name.empty()) {
    return Status::InvalidArgument("a claim needs its namespace, name and uid (got \"" +
                                   ref.namespace_name + "/" + ref.name + "\", uid \"" + ref.uid +
                                   "\")");
  }
  Result<nlohmann::json> object = read_claim_(ref.namespace_name, ref.name);
  if (!object.ok()) return object.status().WithContext("reading " + what);
  Result<ClaimAllocation> allocation = ReadClaimAllocation(*object, kDriverName);
  if (!allocation.ok()) return allocation.status();
  if (allocation->uid != ref.uid) {
    return Status::FailedPrecondition(what + " has UID " + allocation->uid +
                                      ", not the kubelet's " + ref.uid +
                                      " (it was deleted and created again)");
  }
  const NodeSnapshot node = node_();
  Result<ClaimPlan> plan = PlanClaim(*allocation, node.pool, node.gpus, node.setups, options_.dra);
  if (!plan.ok()) return plan.status();

  plugin::ContractRequest request;
  request.resource = std::string(kDriverName);
  request.ids = {ref.uid};
  for (const PlannedGpu& gpu : plan->gpus) {
    request.gpus.push_back({gpu.gpu.gpu.uuid, gpu.memory_bytes, gpu.compute_percent});
    request.slicing.push_back({gpu.gpu.gpu.uuid, 1, gpu.gpu.reserved_memory_bytes});
    request.env_injection |= gpu.env_injection;
  }
  Result<plugin::ContainerAllocation> contract = contract_.Build(request);
  if (!contract.ok()) return contract.status().WithContext(what);

  // Each GPU's limits travel on its own CDI device, the rest once for the whole claim: a
  // container given only some of the claim's devices gets no limit for the others, and the
  // library then holds it to zero there (it fails closed).
  std::set<std::string> per_gpu;
  CdiSpec spec;
  std::map<std::string, std::string> cdi_id_of_device;  // device name -> CDI ID
  for (size_t i = 0; i < plan->gpus.size(); ++i) {
    const int index = static_cast<int>(i);
    const std::string memory = core::contract::MemoryLimitEnv(index);
    const std::string compute = core::contract::ComputeLimitEnv(index);
    per_gpu.insert(memory);
    per_gpu.insert(compute);
    const std::string device = DeviceName(plan->gpus[i].gpu.gpu);
    CdiDevice cdi{ref.uid + "-" + device,
                  {memory + "=" + contract->envs[memory], compute + "=" + contract->envs[compute]}};
    cdi_id_of_device[device] = CdiDeviceId(cdi.name);
    spec.devices.push_back(std::move(cdi));
  }
  for (const auto& [name, value] : contract->envs) {
    if (per_gpu.count(name) == 0) spec.env.push_back(name + "=" + value);
  }
  spec.mounts = contract->mounts;
  Result<std::string> spec_path = WriteCdiSpec(options_.cdi_dir, CdiSpecStem(ref.uid), spec);
  if (!spec_path.ok()) {
    regions_.Remove(contract->region_dir);
    return spec_path.status().WithContext(what);
  }

  PreparedClaim prepared;
  prepared.uid = ref.uid;
  prepared.namespace_name = ref.namespace_name;
  prepared.name = ref.name;
  prepared.region_dir = contract->region_dir;
  prepared.cdi_spec_path = *spec_path;
  const bool nvidia_cdi =
      options_.real_gpus && options_.dra.nvidia_driver == core::NvidiaDriverInjection::kCdi;
  for (const AllocatedDevice& device : allocation->devices) {
    PreparedDevice entry;
    entry.request_names = {BaseRequest(device.request)};
    entry.pool = device.pool;
    entry.device = device.device;
    entry.share_id = device.share_id;
    entry.cdi_device_ids = {cdi_id_of_device[device.device]};
    if (nvidia_cdi) {
      for (const PlannedGpu& gpu : plan->gpus) {
        if (DeviceName(gpu.gpu.gpu) == device.device) {
          entry.cdi_device_ids.push_back("nvidia.com/gpu=" + gpu.gpu.gpu.uuid);
        }
      }
    }
    prepared.devices.push_back(std::move(entry));
  }
  checkpoint_.Put(prepared);
  if (Status saved = checkpoint_.Save(); !saved.ok()) {
    checkpoint_.Erase(ref.uid);
    std::remove(prepared.cdi_spec_path.c_str());
    regions_.Remove(prepared.region_dir);
    return saved.WithContext(what);
  }
  return prepared;
}

Status ClaimPreparer::Unprepare(const ClaimRef& ref) {
  std::lock_guard<std::mutex> lock(mutex_);
  const PreparedClaim* prepared = checkpoint_.Find(ref.uid);
  if (prepared == nullptr) {
    // A spec left by a prepare that crashed before its checkpoint was written.
    const std::string stray = options_.cdi_dir + "/" + CdiSpecStem(ref.uid) + ".json";
    std::remove(stray.c_str());
    return Status::Ok();
  }
  const PreparedClaim claim = *prepared;
  // The spec first: no new container can get the claim's edits once it is gone.
  if (std::remove(claim.cdi_spec_path.c_str()) != 0 && errno != ENOENT) {
    return Status::Internal("ResourceClaim " + claim.namespace_name + "/" + claim.name +
                            ": cannot remove " + claim.cdi_spec_path + ": " +
                            std::strerror(errno));
  }
  regions_.Remove(claim.region_dir);
  checkpoint_.Erase(ref.uid);
  return checkpoint_.Save();
}

}  // namespace gpuslice::dra
