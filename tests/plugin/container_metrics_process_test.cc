// The per-container series on a real plugin's /metrics: gpuslice-device-plugin on the
// simulated GPU behind the kubelet stand-in (device plugin API and PodResources over unix
// sockets), and a real client process with libgpuslice.so preloaded over the simulated driver,
// started with the environment the plugin's Allocate returned.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "fakes/subprocess.h"
#include "kubelet/device_manager.h"
#include "preload/client_process.h"
#include "preload/plugin_fixture.h"

namespace gpuslice::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class ContainerMetricsProcessTest : public PluginFixture {
 protected:
  ContainerMetricsProcessTest() : PluginFixture("    launchQueueDepth: 4\n") {}

  std::string Scrape() {
    httplib::Client http("127.0.0.1", port_);
    auto response = http.Get("/metrics");
    EXPECT_TRUE(response && response->status == 200);
    return response ? response->body : "";
  }

  // The value of `family`'s series for the container "main" of `pod` ("namespace/name"), or
  // nullopt when /metrics has none.
  std::optional<double> Value(const std::string& body, const std::string& family,
                              const std::string& pod) {
    const size_t slash = pod.find('/');
    const std::string series = family + "{namespace=\"" + pod.substr(0, slash) + "\",pod=\"" +
                               pod.substr(slash + 1) + "\",container=\"main\",gpu=\"" + Uuid() +
                               "\",resource=\"nvidia.com/gpu\"} ";
    const size_t at = body.find("\n" + series);
    if (at == std::string::npos) return std::nullopt;
    return std::strtod(body.c_str() + at + 1 + series.size(), nullptr);
  }
};

TEST_F(ContainerMetricsProcessTest, SeriesFollowAContainersUseOfItsSlice) {
  const std::string pod = "team-a/trainer";
  const Environment env = Allocate(pod, 1);
  ASSERT_FALSE(env.empty());

  // Before any process uses the GPU: the slice is known, nothing is used yet.
  std::string body = Scrape();
  EXPECT_EQ(Value(body, "gpuslice_container_memory_limit_bytes", pod), kSliceOfGpu) << body;
  EXPECT_EQ(Value(body, "gpuslice_container_compute_share_ratio", pod), 0.25);
  EXPECT_EQ(Value(body, "gpuslice_container_memory_used_bytes", pod), 0.0);
  EXPECT_NE(body.find("# TYPE gpuslice_container_oom_refusals_total counter"),
            std::string::npos);

  auto client = ClientProcess::Start(kDirectClient, node(), env);
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init"), "ok");
  const uint64_t held = 3ULL << 30;
  ASSERT_EQ(client->Send("alloc plain " + std::to_string(held)).rfind("ok", 0), 0u);
  body = Scrape();
  // The context's overhead counts against the slice too.
  EXPECT_EQ(Value(body, "gpuslice_container_memory_used_bytes", pod), held + kContextBytes)
      << body;
  EXPECT_EQ(Value(body, "gpuslice_container_memory_peak_bytes", pod), held + kContextBytes);
  EXPECT_EQ(Value(body, "gpuslice_container_oom_refusals_total", pod), 0.0);

  // One refused allocation raises the refusals by one; the peak stays where it was.
  EXPECT_EQ(client->Send("alloc plain " + std::to_string(kSliceOfGpu)), "err 2");
  body = Scrape();
  EXPECT_EQ(Value(body, "gpuslice_container_oom_refusals_total", pod), 1.0) << body;
  EXPECT_EQ(Value(body, "gpuslice_container_memory_peak_bytes", pod), held + kContextBytes);

  // Work beyond a 25% share waits at the gate.
  ASSERT_EQ(client->Send("burn 300").rfind("ok", 0), 0u);
  body = Scrape();
  const std::optional<double> throttled =
      Value(body, "gpuslice_container_throttled_seconds_total", pod);
  ASSERT_TRUE(throttled.has_value()) << body;
  EXPECT_GT(*throttled, 0.0);

  // The same work shows as compute used once the plugin has sampled the driver (each second),
  // named by the PID the library published; the gate held it near its 25% share.
  std::optional<double> used;
  for (auto deadline = std::chrono::steady_clock::now() + kWait;
       std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(200ms)) {
    body = Scrape();
    used = Value(body, "gpuslice_container_compute_used_ratio", pod);
    if (used.has_value() && *used > 0) break;
  }
  ASSERT_TRUE(used.has_value()) << body;
  EXPECT_GT(*used, 0.0) << body;
  EXPECT_LE(*used, 0.35) << body;

  // The series go with the pod.
  client.reset();
  kubelet_->ReleasePod(pod);
  body = Scrape();
  EXPECT_FALSE(Value(body, "gpuslice_container_memory_limit_bytes", pod).has_value()) << body;
}

}  // namespace
}  // namespace gpuslice::testing
