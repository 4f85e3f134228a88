// gpuslice top: what each container does with its slices, as `kubectl top` shows pods: one row
// per container and GPU, read from node agents' /metrics (the gpuslice_container_* series),
// named with --agent or found through the API server of a kubeconfig, once or redrawn every
// --interval with --watch.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/kube_agents.h"
#include "cli/output.h"
#include "cli/prometheus_text.h"
#include "cli/subcommands.h"
#include "cli/top_rows.h"
#include "kubeapi/client.h"

namespace gpuslice::cli {
namespace {

struct TopFlags {
  std::vector<std::string> agents;
  std::string kubeconfig;
  std::string context;
  std::string selector = "app.kubernetes.io/name=gpuslice";
  OutputFormat output = OutputFormat::kTable;
  bool watch = false;
  double interval_seconds = 2;
  int iterations = 0;
  double timeout_seconds = 5;
};

// An agent's address: http://host:port with the path of its metrics.
struct AgentUrl {
  std::string base;  // "http://host:port"
  std::string path;  // "/metrics" unless the URL names another
  std::string name;  // "host:port": the node column of its rows
};

// An agent named with --agent, and the client that reads it.
struct DirectAgent {
  AgentUrl url;
  std::unique_ptr<kubeapi::Client> client;
};

// One attempt per read, within --timeout: an agent that is down is reported at once, and the
// next --watch round is the retry.
kubeapi::ClientOptions ReadOptions(const TopFlags& flags) {
  kubeapi::ClientOptions options;
  options.max_attempts = 1;
  options.request_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_seconds * 1000));
  options.connect_timeout = std::min(options.connect_timeout, options.request_timeout);
  options.max_response_bytes = kMaxMetricsBytes;
  return options;
}

Result<AgentUrl> ParseAgentUrl(const std::string& text) {
  std::string rest = text;
  if (rest.rfind("https://", 0) == 0) {
    return Status::InvalidArgument(
        "--agent \"" + text + "\": the node agent serves /metrics over plain HTTP; use http://");
  }
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (rest.find("://") != std::string::npos) {
    return Status::InvalidArgument("--agent \"" + text + "\": only http:// URLs are read");
  }
  const size_t slash = rest.find('/');
  AgentUrl url;
  url.name = rest.substr(0, slash);
  url.path = slash == std::string::npos ? "/metrics" : rest.substr(slash);
  if (url.path == "/") url.path = "/metrics";
  const size_t colon = url.name.rfind(':');
  int port = -1;
  if (colon != std::string::npos && colon > 0) {
    const std::string digits = url.name.substr(colon + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) port = -1;
  }
  if (port < 1 || port > 65535) {
    return Status::InvalidArgument("--agent \"" + text +
                                   "\" is not http://host:port[/path] (port 1-65535; the chart's "
                                   "agents listen on 9410)");
  }
  url.base = "http://" + url.name;
  return url;
}

// A kubeconfig that is missing or unusable is the user's to mend: a usage error.
int ExitCode(const Status& status) {
  return status.code() == StatusCode::kInvalidArgument || status.code() == StatusCode::kNotFound ||
                 status.code() == StatusCode::kFailedPrecondition
             ? kExitUsage
             : kExitFailure;
}

struct Snapshot {
  std::vector<ContainerSliceRow> rows;
  std::vector<std::pair<std::string, std::string>> errors;  // agent, message
};

// The rows of one agent's metrics text, or why there are none.
Result<std::vector<ContainerSliceRow>> Rows(const Result<std::string>& body,
                                            const std::string& node, const std::string& where) {
  if (!body.ok()) return body.status();
  Result<std::vector<Sample>> samples = ParsePrometheusText(*body, where);
  if (!samples.ok()) return samples.status();
  return ContainerSliceRows(*samples, node, where);
}

void Add(Snapshot* snapshot, const std::string& where,
         Result<std::vector<ContainerSliceRow>> rows) {
  if (!rows.ok()) {
    snapshot->errors.emplace_back(where, rows.status().message());
    return;
  }
  snapshot->rows.insert(snapshot->rows.end(), rows->begin(), rows->end());
}

// The agents named with --agent, then those the API server lists (each run, since agents come
// and go with nodes).
Snapshot Collect(const std::vector<DirectAgent>& agents, kubeapi::Client* api,
                 const TopFlags& flags) {
  Snapshot snapshot;
  for (const DirectAgent& agent : agents) {
    const std::string where = agent.url.base + agent.url.path;
    Add(&snapshot, where, Rows(agent.client->GetText(agent.url.path), agent.url.name, where));
  }
  if (api != nullptr) {
    const std::string list_where = api->config().server +
                                   kubeapi::CollectionPath(kubeapi::types::kPods, "") +
                                   "?labelSelector=" + kubeapi::PercentEncode(flags.selector);
    kubeapi::ListOptions selector;
    selector.label_selector = flags.selector;
    Result<nlohmann::json> list = api->List(kubeapi::types::kPods, "", selector);
    Result<std::vector<AgentPod>> pods = list.ok() ? ParseAgentPods(*list, list_where)
                                                   : Result<std::vector<AgentPod>>(list.status());
    if (!pods.ok()) {
      snapshot.errors.emplace_back(list_where, pods.status().message());
    } else if (pods->empty()) {
      snapshot.errors.emplace_back(
          list_where, list_where + ": no running pod labelled " + flags.selector +
                          " has a port named metrics (is the chart installed, with metrics on?)");
    } else {
      for (const AgentPod& pod : *pods) {
        const std::string path = AgentMetricsPath(pod);
        const std::string where = api->config().server + path;
        Add(&snapshot, where,
            Rows(api->GetText(path),
                 pod.node.empty() ? pod.namespace_name + "/" + pod.name : pod.node, where));
      }
    }
  }
  std::stable_sort(
      snapshot.rows.begin(), snapshot.rows.end(),
      [](const ContainerSliceRow& a, const ContainerSliceRow& b) { return a.node < b.node; });
  return snapshot;
}

void Print(const Snapshot& snapshot, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kTable) {
    if (snapshot.rows.empty()) {
      // With errors, stderr says why there are no rows.
      if (snapshot.errors.empty()) out << "No containers with slices.\n";
    } else {
      Table table(TopTableHeaders());
      for (const ContainerSliceRow& row : snapshot.rows) table.AddRow(TopTableCells(row));
      table.Print(out);
    }
    return;
  }
  nlohmann::json containers = nlohmann::json::array();
  for (const ContainerSliceRow& row : snapshot.rows) containers.push_back(TopRowJson(row));
  nlohmann::json errors = nlohmann::json::array();
  for (const auto& [agent, message] : snapshot.errors) {
    errors.push_back({{"agent", agent}, {"error", message}});
  }
  WriteDocument({{"containers", containers}, {"errors", errors}}, format, out);
}

int Run(const TopFlags& flags) {
  std::vector<DirectAgent> agents;
  for (const std::string& text : flags.agents) {
    Result<AgentUrl> url = ParseAgentUrl(text);
    if (!url.ok()) {
      std::cerr << "gpuslice top: " << url.status().message() << "\n";
      return kExitUsage;
    }
    kubeapi::ClusterConfig plain;  // no TLS, no credentials: the agents serve plain HTTP
    plain.source = "--agent " + text;
    plain.server = url->base;
    Result<std::unique_ptr<kubeapi::Client>> client =
        kubeapi::Client::Create(std::move(plain), ReadOptions(flags));
    if (!client.ok()) {
      std::cerr << "gpuslice top: " << client.status().message() << "\n";
      return kExitFailure;
    }
    agents.push_back({*std::move(url), *std::move(client)});
  }
  // Without --agent, as kubectl: the kubeconfig's cluster, or the pod's own.
  std::unique_ptr<kubeapi::Client> api;
  if (agents.empty() || !flags.kubeconfig.empty() || !flags.context.empty()) {
    Result<kubeapi::ClusterConfig> config = kubeapi::LoadDefault(flags.kubeconfig, flags.context);
    if (!config.ok()) {
      std::cerr << "gpuslice top: " << config.status().message()
                << (flags.agents.empty() ? " (or name agents with --agent http://NODE:9410)" : "")
                << "\n";
      return ExitCode(config.status());
    }
    Result<std::unique_ptr<kubeapi::Client>> client =
        kubeapi::Client::Create(*std::move(config), ReadOptions(flags));
    if (!client.ok()) {
      std::cerr << "gpuslice top: " << client.status().message() << "\n";
      return kExitFailure;
    }
    api = *std::move(client);
  }
  // A terminal is redrawn in place; a pipe or file gets one table after the other.
  const bool redraw = flags.watch && flags.output == OutputFormat::kTable && isatty(STDOUT_FILENO);
  const auto interval = std::chrono::duration<double>(flags.interval_seconds);
  for (int iteration = 1;; ++iteration) {
    const auto started = std::chrono::steady_clock::now();
    const Snapshot snapshot = Collect(agents, api.get(), flags);
    if (redraw) std::cout << "\x1b[H\x1b[2J";
    if (flags.watch && flags.output == OutputFormat::kYaml && iteration > 1) std::cout << "---\n";
    if (flags.watch && flags.output == OutputFormat::kTable && !redraw && iteration > 1) {
      std::cout << "\n";
    }
    Print(snapshot, flags.output, std::cout);
    for (const auto& [agent, message] : snapshot.errors) {
      std::cerr << "gpuslice top: " << message << "\n";
    }
    std::cout << std::flush;
    const bool last = !flags.watch || (flags.iterations > 0 && iteration >= flags.iterations);
    if (last) return snapshot.errors.empty() ? kExitOk : kExitFailure;
    std::this_thread::sleep_until(
        started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval));
  }
}

}  // namespace

Subcommand AddTopCommand(CLI::App* root) {
  auto flags = std::make_shared<TopFlags>();
  CLI::App* app = root->add_subcommand(
      "top",
      "What each container does with its slices, as `kubectl top` shows pods: per container "
      "and GPU, memory used / limit, peak, refused allocations, compute share and time "
      "throttled, read from node agents' /metrics (gpuslice-device-plugin): those --agent "
      "names, or every node's through the API server of a kubeconfig.");
  app->add_option("--agent", flags->agents,
                  "A node agent's metrics URL, http://HOST:PORT[/PATH] (PATH defaults to "
                  "/metrics; the chart's agents listen on port 9410); repeatable")
      ->type_name("URL")
      ->allow_extra_args(false);
  app->add_option("--kubeconfig", flags->kubeconfig,
                  "Find every node's agent through this kubeconfig's API server (the pods "
                  "--selector picks, their metrics read through the API server's pod proxy); "
                  "without --agent, the cluster kubectl would use (in a pod its service account, "
                  "else $KUBECONFIG, else ~/.kube/config)")
      ->type_name("PATH");
  app->add_option("--context", flags->context, "The kubeconfig context; default: its current one");
  app->add_option("--selector", flags->selector,
                  "Label selector of the agent pods (the chart's DaemonSet)")
      ->capture_default_str();
  AddOutputOption(app, &flags->output);
  app->add_flag("-w,--watch", flags->watch, "Keep reading the agents and redraw every --interval");
  app->add_option("--interval", flags->interval_seconds, "Seconds between redraws with --watch")
      ->default_val(2)
      ->check(NumberAbove(0, 86400));
  app->add_option("--iterations", flags->iterations,
                  "With --watch, stop after this many redraws (0: until interrupted)")
      ->default_val(0)
      ->check(NumberAtLeast(0));
  app->add_option("--timeout", flags->timeout_seconds, "Seconds to wait for each agent's answer")
      ->default_val(5)
      ->check(NumberAbove(0, 600));
  return {app, [flags] { return Run(*flags); }};
}

}  // namespace gpuslice::cli
