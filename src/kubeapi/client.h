// A Kubernetes API client: get, list, watch, create, update, patch and delete on any resource
// by group/version/resource, as JSON. Transient failures (connection errors, 429, 5xx) are
// retried with exponential backoff, honouring Retry-After; updates use optimistic concurrency
// (Mutate re-reads and re-applies the caller's change on a 409 Conflict). The DRA driver,
// `gpuslice top` and later controllers share it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "kubeapi/cluster_config.h"
#include "kubeapi/resource.h"

namespace gpuslice::kubeapi {

namespace internal {
class HttpTransport;
}

struct ClientOptions {
  // Attempts per request, the first included, while the server answers 429 or 5xx or cannot
  // be reached.
  int max_attempts = 6;
  // Backoff between attempts doubles from the first value up to the second. A Retry-After
  // header replaces it (capped at backoff_max).
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{std::chrono::seconds(10)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // Whole request, for everything but watches.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  // How often Mutate re-reads and retries after a 409 Conflict before giving up.
  int max_conflict_retries = 16;
  // A response body larger than this ends the request ResourceExhausted: etcd holds objects of
  // at most 1.5 MiB, and the Lists the driver reads are far below it.
  size_t max_response_bytes = size_t{64} << 20;
  // One watch event (one object in JSON) larger than this ends the watch ResourceExhausted.
  size_t max_watch_event_bytes = size_t{16} << 20;
  std::string user_agent = "gpuslice";
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in types only)
  kJson,            // application/json-patch+json (RFC 6902)
};

struct GetOptions {
  // "0": whatever version the server has cached, without a quorum read from etcd: what a poll
  // every few seconds from every node should ask for. Empty: the latest.
  std::string resource_version;
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  // Page size: lists follow the server's continue tokens until the last page. 0: unpaged.
  int64_t page_size = 500;
};

struct WatchOptions {
  // Events after this version (usually the list's metadata.resourceVersion).
  std::string resource_version;
  std::string label_selector;
  std::string field_selector;
  // The server ends the watch after this long; the caller watches again from the last version.
  int timeout_seconds = 300;
};

struct WatchEvent {
  std::string type;        // ADDED, MODIFIED, DELETED or BOOKMARK
  nlohmann::json object;   // the object (for BOOKMARK only its resourceVersion)
};

// Why a watch ended without an error.
enum class WatchEnd {
  kClosed,   // the server ended it (timeout_seconds): watch again from the last version
  kStopped,  // the callback returned false, or `stop` was set
  kExpired,  // 410 Gone: the version is too old; list again, then watch
};

// Thread-safe: every method may be called from any thread, concurrently; each request uses
// its own connection from a small pool.
class Client {
 public:
  // Checks the config (a server URL, readable credential files) and returns a client. Returns
  // InvalidArgument or NotFound naming what is wrong; nothing is sent to the server yet.
  static Result<std::unique_ptr<Client>> Create(ClusterConfig config, ClientOptions options = {});
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Every call below returns the server's object (JSON) on success. Errors name the verb, the
  // path and the server's message: NotFound (404), AlreadyExists (409 AlreadyExists),
  // FailedPrecondition (409 Conflict, 401, 403, 410), InvalidArgument (400, 422), Unavailable
  // (unreachable, or 429/5xx on every attempt), Internal (anything else).

  Result<nlohmann::json> Get(const ResourceType& type, const std::string& ns,
                             const std::string& name, const GetOptions& options = {});

  // GET of any path on the server, query included (a pod's metrics through the API server's
  // pod proxy), with its body as text, whatever its type.
  Result<std::string> GetText(const std::string& path_and_query);

  // Every page: a List object whose items are all the pages' items and whose
  // metadata.resourceVersion is the one to watch from.
  Result<nlohmann::json> List(const ResourceType& type, const std::string& ns,
                              const ListOptions& options = {});

  Result<nlohmann::json> Create(const ResourceType& type, const std::string& ns,
                                const nlohmann::json& object);

  // POST to a subresource of an existing object (serviceaccounts/<name>/token).
  Result<nlohmann::json> CreateSubresource(const ResourceType& type, const std::string& ns,
                                           const std::string& name, const std::string& subresource,
                                           const nlohmann::json& body);

  // PUT of the whole object (or its `subresource`, e.g. "status"). With
  // metadata.resourceVersion set, the server refuses a stale object (FailedPrecondition).
  Result<nlohmann::json> Update(const ResourceType& type, const std::string& ns,
                                const nlohmann::json& object, const std::string& subresource = "");

  Result<nlohmann::json> Patch(const ResourceType& type, const std::string& ns,
                               const std::string& name, PatchType patch_type,
                               const nlohmann::json& patch, const std::string& subresource = "");

  // Returns OK once deleted (or being deleted), NotFound when it does not exist.
  Status Delete(const ResourceType& type, const std::string& ns, const std::string& name);

  // Deletes every object the selectors match.
  Status DeleteCollection(const ResourceType& type, const std::string& ns,
                          const ListOptions& selectors);

  // Reads the object, lets `mutate` change it, and writes it back with its resourceVersion,
  // reading and mutating again on each 409 Conflict. A mutation that changes nothing writes
  // nothing. A non-OK Status from `mutate` ends it with that Status. Returns the object as
  // written (or as read when unchanged).
  using Mutation = std::function<Status(nlohmann::json& object)>;
  Result<nlohmann::json> Mutate(const ResourceType& type, const std::string& ns,
                                const std::string& name, const Mutation& mutate,
                                const std::string& subresource = "");

  // Streams events to `on_event` until the server ends the watch, `on_event` returns false, or
  // `stop` (checked about once a second) becomes true. One attempt: Unavailable when the
  // server cannot be reached (the caller backs off and watches again).
  Result<WatchEnd> Watch(const ResourceType& type, const std::string& ns,
                         const WatchOptions& options,
                         const std::function<bool(const WatchEvent&)>& on_event,
                         const std::atomic<bool>* stop = nullptr);

  const ClusterConfig& config() const;

 private:
  explicit Client(std::unique_ptr<internal::HttpTransport> transport);
  const std::string& server() const;
  std::unique_ptr<internal::HttpTransport> transport_;
};

}  // namespace gpuslice::kubeapi
