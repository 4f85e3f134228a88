// The image built from the Dockerfile, as the cluster's runtime holds it: every path the chart's
// templates reference exists in it, and every program in it starts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <set>

#include "e2e/e2e_support.h"

namespace gpuslice::e2e {
namespace {

// Paths inside the image that the rendered chart names, with simulated GPUs on so the
// simulated driver's files are included.
std::set<std::string> ImagePathsTheChartReferences() {
  const CommandResult rendered =
      Helm("template t " + Quote(kRepo + "/deploy/helm/gpuslice") + " --set simulate=1xH100-80GB");
  EXPECT_EQ(rendered.exit_code, 0) << rendered.Describe();
  std::set<std::string> paths;
  const auto in_path = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_.+/-", c) != nullptr;
  };
  for (const std::string prefix : {"/usr/local/gpuslice/", "/bin/sh"}) {
    for (size_t at = rendered.out.find(prefix); at != std::string::npos;
         at = rendered.out.find(prefix, at + 1)) {
      size_t end = at + prefix.size();
      while (end < rendered.out.size() && in_path(rendered.out[end])) ++end;
      paths.insert(rendered.out.substr(at, end - at));
    }
  }
  return paths;
}

TEST_F(ClusterTest, ImageHoldsEverythingTheChartReferencesAndItsProgramsStart) {
  const std::set<std::string> paths = ImagePathsTheChartReferences();
  ASSERT_THAT(paths, ::testing::Contains("/usr/local/gpuslice/lib/libgpuslice.so"));
  ASSERT_THAT(paths, ::testing::Contains("/usr/local/gpuslice/bin/gpuslice-device-plugin"));
  std::string script;
  for (const std::string& path : paths) {
    script += "[ -e " + path + " ] || echo missing: " + path + "; ";
  }
  script +=
      "for program in /usr/local/gpuslice/bin/*; do \"$program\" --version >/dev/null 2>&1 || "
      "echo broken: $program; done; "
      "for library in /usr/local/gpuslice/lib/*.so; do ldd \"$library\" | grep 'not found' && "
      "echo unresolved: $library; done; echo checked";
  const std::string image =
      KubectlJson("-n " + kReleaseNamespace + " get daemonset " +
                  kRelease)["spec"]["template"]["spec"]["containers"][0]["image"];
  TestNamespace ns("e2e-image");
  const nlohmann::json pod = {{"apiVersion", "v1"},
                              {"kind", "Pod"},
                              {"metadata", {{"name", "check"}}},
                              {"spec",
                               {{"restartPolicy", "Never"},
                                {"tolerations", {{{"operator", "Exists"}}}},
                                {"containers",
                                 {{{"name", "check"},
                                   {"image", image},
                                   {"imagePullPolicy", "Never"},
                                   {"command", {"/bin/sh", "-c", script}}}}}}}};
  const CommandResult applied = Kubectl("-n " + ns.name() + " apply -f -", pod.dump());
  ASSERT_EQ(applied.exit_code, 0) << applied.Describe();
  std::string why;
  ASSERT_TRUE(WaitFor(
      std::chrono::seconds(90),
      [&](std::string* seen) {
        const CommandResult phase =
            Kubectl("-n " + ns.name() + " get pod check -o jsonpath='{.status.phase}'");
        *seen = phase.out;
        return phase.out == "Succeeded" || phase.out == "Failed";
      },
      &why))
      << why;
  const CommandResult logs = Kubectl("-n " + ns.name() + " logs check");
  EXPECT_EQ(logs.out, "checked\n") << "in image " << image << ":\n" << logs.out;
}

}  // namespace
}  // namespace gpuslice::e2e
