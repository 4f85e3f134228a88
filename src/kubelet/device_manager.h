// A kubelet stand-in: the kubelet's device manager side of the device plugin API v1beta1 and
// its PodResources List, following the kubelet's published behaviour. `gpuslice node-sim`
// plays the kubelet with it; tests and benchmarks drive the real plugin through it.
//
// What it does like the kubelet:
// - serves Registration on <dir>/kubelet.sock and refuses a registration whose version is not
//   v1beta1, whose resource name is not a valid extended resource name, or whose endpoint is
//   not a plain file name in the directory;
// - refuses a registration at an endpoint whose stream is still open ("device plugin already
//   connected", v1.37), and, as the kubelet does, refuses that endpoint from then on;
// - on registration dials <dir>/<endpoint>, reads the plugin's options and keeps a
//   ListAndWatch stream open, replacing an earlier registration of the same resource;
// - when a stream ends, marks that resource's devices unhealthy;
// - allocates for a container from healthy, unallocated devices, asking the plugin for a
//   preferred allocation when it offers one and checking the answer, then calls Allocate;
// - Restart() wipes the directory and creates a new kubelet.sock, as a kubelet restart does.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpuslice::kubelet {

struct DeviceManagerOptions {
  std::string device_plugin_dir;
  // Where to serve PodResources List; empty: not served.
  std::string pod_resources_socket;
};

struct DeviceState {
  std::string id;
  bool healthy = false;
  std::vector<int64_t> numa_nodes;
};

struct Mount {
  std::string container_path;
  std::string host_path;
  bool read_only = false;
};

// A device node the kubelet hands the container runtime (passDeviceSpecs).
struct DeviceSpec {
  std::string container_path;
  std::string host_path;
  std::string permissions;  // cgroup access: any of r, w, m
};

// What a container got from Allocate: every field of the plugin's answer.
struct ContainerAllocation {
  std::string pod;  // "namespace/name"
  std::string container;
  std::string resource;
  std::vector<std::string> device_ids;
  std::map<std::string, std::string> envs;
  std::vector<Mount> mounts;
  std::vector<DeviceSpec> devices;
  std::map<std::string, std::string> annotations;  // CDI devices as cdi.k8s.io/ annotations
  std::vector<std::string> cdi_devices;             // fully qualified CDI device names
  bool used_preferred_allocation = false;
};

class DeviceManager {
 public:
  // Starts serving kubelet.sock (and PodResources). Returns Unavailable naming the socket when
  // it cannot be bound.
  static Result<std::unique_ptr<DeviceManager>> Start(DeviceManagerOptions options);
  ~DeviceManager();

  // Every registration attempt, accepted or not, with the kubelet's answer.
  struct Registration {
    std::string resource;
    std::string endpoint;
    Status result;
  };
  std::vector<Registration> Registrations() const;

  // The devices the plugin of `resource` last reported (empty when none registered).
  std::vector<DeviceState> Devices(const std::string& resource) const;

  // Number of ListAndWatch updates received for `resource` since it registered.
  int Updates(const std::string& resource) const;

  // Blocks until `predicate` holds for the devices of `resource` or `timeout` passes; returns
  // whether it holds.
  bool WaitForDevices(const std::string& resource,
                      const std::function<bool(const std::vector<DeviceState>&)>& predicate,
                      std::chrono::milliseconds timeout) const;

  // Blocks until `count` registrations of `resource` were accepted in all (restarts
  // included), or `timeout` passes.
  bool WaitForRegistrations(const std::string& resource, int count,
                            std::chrono::milliseconds timeout) const;

  // Allocates `count` devices of `resource` to a container the way the kubelet does. Returns
  // ResourceExhausted when too few healthy devices are free, the plugin's error when Allocate
  // fails, or InvalidArgument when its preferred allocation breaks the protocol.
  Result<ContainerAllocation> Allocate(const std::string& pod, const std::string& container,
                                       const std::string& resource, int count);

  // Frees a pod's devices, as when the pod terminates.
  void ReleasePod(const std::string& pod);

  // Does what a kubelet restart does to the plugin directory: stops serving, removes every
  // file in it, and serves a new kubelet.sock. Allocations are kept (the kubelet checkpoints).
  Status Restart();

 private:
  class Impl;
  explicit DeviceManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpuslice::kubelet
