#include "kubeapi/client.h"

#include <optional>
#include <utility>
#include <vector>

#include "kubeapi/internal/http_transport.h"

namespace gpuslice::kubeapi {
namespace {

using internal::HttpRequest;
using internal::HttpResponse;
using nlohmann::json;

// Longest piece of a non-JSON error body quoted in a message.
constexpr size_t kMaxQuotedBody = 400;

std::string WithQuery(std::string path,
                      const std::vector<std::pair<std::string, std::string>>& params) {
  char separator = path.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    path += separator + key + "=" + PercentEncode(value);
    separator = '&';
  }
  return path;
}

struct ApiError {
  std::string reason;
  std::string message;
};

ApiError ReadApiError(const std::string& body) {
  ApiError error;
  try {
    const json status = json::parse(body);
    if (status.is_object()) {
      if (status.contains("reason") && status["reason"].is_string()) error.reason = status["reason"];
      if (status.contains("message") && status["message"].is_string()) {
        error.message = status["message"];
      }
    }
  } catch (const json::exception&) {
  }
  if (error.message.empty()) error.message = body.substr(0, kMaxQuotedBody);
  return error;
}

// Names the whole URL, as the transport's own errors do: `gpuslice top` reads from many servers.
Status ErrorFrom(const std::string& server, const HttpRequest& request,
                 const HttpResponse& response) {
  const ApiError error = ReadApiError(response.body);
  std::string text =
      request.method + " " + server + request.target + ": " + std::to_string(response.code);
  if (!error.reason.empty()) text += " " + error.reason;
  if (!error.message.empty()) text += ": " + error.message;
  switch (response.code) {
    case 400:
    case 422:
      return Status::InvalidArgument(text);
    case 404:
      return Status::NotFound(text);
    case 409:
      return error.reason == "AlreadyExists" ? Status::AlreadyExists(text)
                                             : Status::FailedPrecondition(text);
    case 401:
    case 403:
    case 410:
      return Status::FailedPrecondition(text);
    case 429:
      return Status::Unavailable(text);
    default:
      return response.code >= 500 ? Status::Unavailable(text) : Status::Internal(text);
  }
}

bool IsSuccess(long code) { return code >= 200 && code < 300; }

Result<json> ParseObject(const HttpRequest& request, const HttpResponse& response) {
  try {
    json object = json::parse(response.body);
    if (!object.is_object()) {
      return Status::Internal(request.method + " " + request.target +
                              ": the server answered with JSON that is not an object");
    }
    return object;
  } catch (const json::exception& e) {
    return Status::Internal(request.method + " " + request.target +
                            ": the server's answer is not JSON: " + e.what());
  }
}

const char* ContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
  }
  return "application/merge-patch+json";
}

std::string NameOf(const json& object) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "";
  const json& metadata = object["metadata"];
  return metadata.contains("name") && metadata["name"].is_string() ? metadata["name"].get<std::string>()
                                                                    : "";
}

}  // namespace

Client::Client(std::unique_ptr<internal::HttpTransport> transport)
    : transport_(std::move(transport)) {}

Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Create(ClusterConfig config, ClientOptions options) {
  Result<std::unique_ptr<internal::HttpTransport>> transport =
      internal::HttpTransport::Create(std::move(config), std::move(options));
  if (!transport.ok()) return transport.status();
  return std::unique_ptr<Client>(new Client(std::move(*transport)));
}

const ClusterConfig& Client::config() const { return transport_->config(); }

const std::string& Client::server() const { return transport_->config().server; }

Result<json> Client::Get(const ResourceType& type, const std::string& ns,
                         const std::string& name, const GetOptions& options) {
  const HttpRequest request{
      "GET",
      WithQuery(ObjectPath(type, ns, name), {{"resourceVersion", options.resource_version}}),
      "", "application/json", true};
  Result<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) return response.status();
  if (!IsSuccess(response->code)) return ErrorFrom(server(), request, *response);
  return ParseObject(request, *response);
}

Result<std::string> Client::GetText(const std::string& path_and_query) {
  HttpRequest request{"GET", path_and_query, "", "application/json", true};
  request.accept = "*/*";
  Result<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) return response.status();
  if (!IsSuccess(response->code)) return ErrorFrom(server(), request, *response);
  return std::move(response->body);
}

Result<json> Client::List(const ResourceType& type, const std::string& ns,
                          const ListOptions& options) {
  json list;
  json items = json::array();
  std::string continue_token;
  do {
    const HttpRequest request{
        "GET",
        WithQuery(CollectionPath(type, ns),
                  {{"labelSelector", options.label_selector},
                   {"fieldSelector", options.field_selector},
                   {"limit", options.page_size > 0 ? std::to_string(options.page_size) : ""},
                   {"continue", continue_token}}),
        "", "application/json", true};
    Result<HttpResponse> response = transport_->Send(request);
    if (!response.ok()) return response.status();
    if (!IsSuccess(response->code)) return ErrorFrom(server(), request, *response);
    Result<json> page = ParseObject(request, *response);
    if (!page.ok()) return page.status();
    if (page->contains("items") && (*page)["items"].is_array()) {
      for (json& item : (*page)["items"]) items.push_back(std::move(item));
    }
    continue_token.clear();
    const json& metadata = (*page)["metadata"];
    if (metadata.is_object() && metadata.contains("continue") && metadata["continue"].is_string()) {
      continue_token = metadata["continue"];
    }
    // Every page carries the first page's snapshot version: keep the first.
    if (list.is_null()) list = std::move(*page);
  } while (!continue_token.empty());
  list["items"] = std::move(items);
  if (list["metadata"].is_object()) list["metadata"].erase("continue");
  return list;
}

Result<json> Client::Create(const ResourceType& type, const std::string& ns, const json& object) {
  const HttpRequest request{"POST", CollectionPath(type, ns), object.dump(), "application/json",
                            /*idempotent=*/false};
  Result<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) return response.status();
  if (!IsSuccess(response->code)) return ErrorFrom(server(), request, *response);
  return ParseObject(request, *response);
}

Result<json> Client::CreateSubresource(const ResourceType& type, const std::string& ns,
                                       const std::string& name, const std::string& subresource,
                                       const json& body) {
  const HttpRequest request{"POST", ObjectPath(type, ns, name, subresource), body.dump(),
                            "application/json", /*idempotent=*/false};
  Result<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) return response.status();
  if (!IsSuccess(response->code)) return ErrorFrom(server(), request, *response);
  return ParseObject(request, *response);
}

Result<json> Client::Update(const ResourceType& type, const std::string& ns, const json& object,
                            const std::string& subresource) {
  const std::string name = NameOf(object);
  if (name.empty()) return Status::InvalidArgument("update of " + type.Name() + ": no metadata.name");
  const HttpRequest request{"PUT", ObjectPath(type, ns, name, subresource), object.dump(),
                            "application/json", true};
  Result<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) return response.status();
  if (!IsSuccess(response->code)) return ErrorFrom(server(), request, *response);
  return ParseObject(request, *response);
}

Result<json> Client::Patch(const ResourceType& type, const std::string& ns,
                           const std::string& name, PatchType patch_type, const json& patch,
                           const std::string& subresource) {
  const HttpRequest request{"PATCH", ObjectPath(type, ns, name, subresource), patch.dump(),
                            ContentType(patch_type), /*idempotent=*/patch_type != PatchType::kJson};
  Result<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) return response.status();
  if (!IsSuccess(response->code)) return ErrorFrom(server(), request, *response);
  return ParseObject(request, *response);
}

Status Client::Delete(const ResourceType& type, const std::string& ns, const std::string& name) {
  const HttpRequest request{"DELETE", ObjectPath(type, ns, name), "", "application/json", true};
  Result<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) return response.status();
  if (!IsSuccess(response->code)) return ErrorFrom(server(), request, *response);
  return Status::Ok();
}

Status Client::DeleteCollection(const ResourceType& type, const std::string& ns,
                                const ListOptions& selectors) {
  const HttpRequest request{"DELETE",
                            WithQuery(CollectionPath(type, ns),
                                      {{"labelSelector", selectors.label_selector},
                                       {"fieldSelector", selectors.field_selector}}),
                            "", "application/json", true};
  Result<HttpResponse> response = transport_->Send(request);
  if (!response.ok()) return response.status();
  if (!IsSuccess(response->code)) return ErrorFrom(server(), request, *response);
  return Status::Ok();
}

Result<json> Client::Mutate(const ResourceType& type, const std::string& ns,
                            const std::string& name, const Mutation& mutate,
                            const std::string& subresource) {
  for (int conflicts = 0;; ++conflicts) {
    Result<json> current = Get(type, ns, name);
    if (!current.ok()) return current.status();
    json changed = *current;
    GPUSLICE_RETURN_IF_ERROR(mutate(changed));
    if (changed == *current) return current;
    // Whatever the mutation did, the write must be against the version that was read.
    changed["metadata"]["resourceVersion"] = (*current)["metadata"]["resourceVersion"];
    const HttpRequest request{"PUT", ObjectPath(type, ns, name, subresource), changed.dump(),
                              "application/json", true};
    Result<HttpResponse> response = transport_->Send(request);
    if (!response.ok()) return response.status();
    if (IsSuccess(response->code)) return ParseObject(request, *response);
    if (response->code == 409 && ReadApiError(response->body).reason == "Conflict" &&
        conflicts < transport_->options().max_conflict_retries) {
      continue;
    }
    return ErrorFrom(server(), request, *response);
  }
}

Result<WatchEnd> Client::Watch(const ResourceType& type, const std::string& ns,
                               const WatchOptions& options,
                               const std::function<bool(const WatchEvent&)>& on_event,
                               const std::atomic<bool>* stop) {
  const HttpRequest request{
      "GET",
      WithQuery(CollectionPath(type, ns),
                {{"watch", "true"},
                 {"allowWatchBookmarks", "true"},
                 {"resourceVersion", options.resource_version},
                 {"labelSelector", options.label_selector},
                 {"fieldSelector", options.field_selector},
                 {"timeoutSeconds",
                  options.timeout_seconds > 0 ? std::to_string(options.timeout_seconds) : ""}}),
      "", "application/json", true};
  std::string buffer;
  std::optional<WatchEnd> ended;
  Status error;
  auto on_data = [&](std::string_view chunk) {
    buffer.append(chunk);
    if (buffer.find('\n') == std::string::npos &&
        buffer.size() > transport_->options().max_watch_event_bytes) {
      error = Status::ResourceExhausted(
          "watch " + request.target + ": an event is larger than " +
          std::to_string(transport_->options().max_watch_event_bytes) + " bytes");
      return false;
    }
    size_t newline = 0;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      const std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      WatchEvent event;
      try {
        json parsed = json::parse(line);
        if (!parsed.is_object() || !parsed.contains("type") || !parsed["type"].is_string()) {
          error = Status::Internal("watch " + request.target + ": an event without a type");
          return false;
        }
        event.type = parsed["type"];
        event.object = std::move(parsed["object"]);
      } catch (const json::exception& e) {
        error = Status::Internal("watch " + request.target + ": an event is not JSON: " + e.what());
        return false;
      }
      if (event.type == "ERROR") {
        const bool gone = event.object.is_object() && event.object.value("code", 0) == 410;
        if (gone) {
          ended = WatchEnd::kExpired;
        } else {
          error = Status::Unavailable("watch " + request.target +
                                      ": the server sent an error: " + event.object.dump());
        }
        return false;
      }
      if (!on_event(event)) {
        ended = WatchEnd::kStopped;
        return false;
      }
    }
    return true;
  };
  std::string error_body;
  Result<long> code = transport_->Stream(request, on_data, stop, &error_body);
  if (!error.ok()) return error;
  if (ended) return *ended;
  if (!code.ok()) return code.status();
  if (stop != nullptr && stop->load()) return WatchEnd::kStopped;
  if (*code == 410) return WatchEnd::kExpired;
  if (*code != 200) return ErrorFrom(server(), request, HttpResponse{*code, error_body});
  return WatchEnd::kClosed;
}

}  // namespace gpuslice::kubeapi
