#include "kubeapi/internal/http_transport.h"

#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "io/file.h"

namespace gpuslice::kubeapi::internal {
namespace {

// A token file is a few kilobytes at most.
constexpr uint64_t kMaxTokenBytes = 1 << 20;
constexpr size_t kMaxPooledHandles = 4;

std::string Trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

bool IsRetriableTransportError(CURLcode code, bool idempotent) {
  switch (code) {
    // Nothing reached the server: always safe to try again.
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    // The request may have been applied before the connection broke.
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return idempotent;
    default:
      return false;
  }
}

}  // namespace

Result<std::string> TokenFile::Get(bool force) {
  std::lock_guard<std::mutex> lock(mutex_);
  struct stat info {};
  if (stat(path_.c_str(), &info) != 0) {
    return Status::NotFound("token file " + path_ + ": " + std::strerror(errno));
  }
  const int64_t mtime_ns =
      static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
  const bool changed = info.st_dev != device_ || info.st_ino != inode_ ||
                       info.st_size != size_ || mtime_ns != mtime_ns_;
  if (!force && !changed && !token_.empty()) return token_;
  Result<std::string> text = io::ReadFile(path_, kMaxTokenBytes);
  if (!text.ok()) return text.status();
  const std::string token = Trim(*text);
  if (token.empty()) return Status::FailedPrecondition("token file " + path_ + " is empty");
  token_ = token;
  device_ = info.st_dev;
  inode_ = info.st_ino;
  size_ = info.st_size;
  mtime_ns_ = mtime_ns;
  return token_;
}

struct HttpTransport::Attempt {
  long code = 0;
  std::string body;
  std::string retry_after;
  CURLcode curl_code = CURLE_OK;
  char error[CURL_ERROR_SIZE] = {};
  CURL* curl = nullptr;
  // Streams only.
  const std::function<bool(std::string_view)>* on_data = nullptr;
  const std::atomic<bool>* stop = nullptr;
  bool ended_by_caller = false;
  size_t max_body = 0;      // ClientOptions::max_response_bytes
  bool too_large = false;  // the body passed max_body; the transfer was aborted
};

namespace {

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* attempt = static_cast<HttpTransport::Attempt*>(user);
  const size_t bytes = size * count;
  if (attempt->on_data != nullptr) {
    long code = 0;
    curl_easy_getinfo(attempt->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200) {
      if (!(*attempt->on_data)(std::string_view(data, bytes))) {
        attempt->ended_by_caller = true;
        return 0;  // makes curl abort the transfer
      }
      return bytes;
    }
  }
  if (attempt->body.size() + bytes > attempt->max_body) {
    attempt->too_large = true;
    return 0;  // makes curl abort the transfer
  }
  attempt->body.append(data, bytes);
  return bytes;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* attempt = static_cast<HttpTransport::Attempt*>(user);
  const size_t bytes = size * count;
  const std::string_view line(data, bytes);
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (line.size() > kRetryAfter.size() &&
      std::equal(kRetryAfter.begin(), kRetryAfter.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    attempt->retry_after = Trim(std::string(line.substr(kRetryAfter.size())));
  }
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* attempt = static_cast<HttpTransport::Attempt*>(user);
  if (attempt->stop != nullptr && attempt->stop->load()) {
    attempt->ended_by_caller = true;
    return 1;  // aborts the transfer
  }
  return 0;
}

}  // namespace

HttpTransport::HttpTransport(ClusterConfig config, ClientOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  if (!config_.token_file.empty() && config_.token.empty()) {
    token_file_ = std::make_unique<TokenFile>(config_.token_file);
  }
}

HttpTransport::~HttpTransport() {
  for (void* curl : pool_) curl_easy_cleanup(static_cast<CURL*>(curl));
}

Result<std::unique_ptr<HttpTransport>> HttpTransport::Create(ClusterConfig config,
                                                            ClientOptions options) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return Status::InvalidArgument(config.source + ": server \"" + config.server +
                                   "\" is not an http:// or https:// URL");
  }
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  for (const std::string* file :
       {&config.ca_file, &config.client_cert_file, &config.client_key_file}) {
    if (!file->empty() && access(file->c_str(), R_OK) != 0) {
      return Status::NotFound(config.source + ": cannot read " + *file + ": " +
                              std::strerror(errno));
    }
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  auto transport =
      std::unique_ptr<HttpTransport>(new HttpTransport(std::move(config), std::move(options)));
  if (transport->token_file_ != nullptr) {
    Result<std::string> token = transport->token_file_->Get(/*force=*/true);
    if (!token.ok()) return token.status().WithContext(transport->config_.source);
  }
  return transport;
}

void* HttpTransport::Acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!pool_.empty()) {
      void* curl = pool_.back();
      pool_.pop_back();
      return curl;
    }
  }
  return curl_easy_init();
}

void HttpTransport::Release(void* curl) {
  if (curl == nullptr) return;
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (pool_.size() < kMaxPooledHandles) {
    pool_.push_back(curl);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(curl));
  }
}

Status HttpTransport::Perform(void* handle, const HttpRequest& request, bool force_token,
                              Attempt& attempt) {
  CURL* curl = static_cast<CURL*>(handle);
  if (curl == nullptr) return Status::Internal("curl_easy_init failed");
  // Keeps the connection; clears every option of the previous request.
  curl_easy_reset(curl);
  attempt.curl = curl;
  const std::string url = config_.server + request.target;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, attempt.error);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  if (attempt.on_data == nullptr) {
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count()));
  } else {
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &attempt);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &attempt);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &attempt);

  // TLS: the blobs are copied by curl.
  curl_blob ca{const_cast<char*>(config_.ca_data.data()), config_.ca_data.size(),
               CURL_BLOB_COPY};
  curl_blob cert{const_cast<char*>(config_.client_cert_data.data()),
                 config_.client_cert_data.size(), CURL_BLOB_COPY};
  curl_blob key{const_cast<char*>(config_.client_key_data.data()), config_.client_key_data.size(),
                CURL_BLOB_COPY};
  if (!config_.ca_data.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  if (!config_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!config_.client_cert_data.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!config_.client_cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
  }
  if (!config_.client_key_data.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!config_.client_key_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLKEY, config_.client_key_file.c_str());
  }

  curl_slist* headers = nullptr;
  const std::string accept = "Accept: " + request.accept;
  headers = curl_slist_append(headers, accept.c_str());
  // No "Expect: 100-continue" round trip before bodies.
  headers = curl_slist_append(headers, "Expect:");
  std::string authorization;
  if (!config_.token.empty()) {
    authorization = "Authorization: Bearer " + config_.token;
  } else if (token_file_ != nullptr) {
    Result<std::string> token = token_file_->Get(force_token);
    if (!token.ok()) {
      curl_slist_free_all(headers);
      return token.status().WithContext(config_.source);
    }
    authorization = "Authorization: Bearer " + *token;
  }
  if (!authorization.empty()) {
    headers = curl_slist_append(headers, authorization.c_str());
  } else if (!config_.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, config_.password.c_str());
  }
  const std::string content_type = "Content-Type: " + request.content_type;
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    headers = curl_slist_append(headers, content_type.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  if (request.method != "GET" && request.method != "POST") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  attempt.curl_code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &attempt.code);
  curl_slist_free_all(headers);
  return Status::Ok();
}

Result<HttpResponse> HttpTransport::Send(const HttpRequest& request) {
  std::chrono::milliseconds backoff = options_.backoff_initial;
  bool token_refreshed = false;
  bool force_token = false;
  for (int attempt_number = 1;; ++attempt_number) {
    Attempt attempt;
    attempt.max_body = options_.max_response_bytes;
    void* curl = Acquire();
    const Status performed = Perform(curl, request, force_token, attempt);
    force_token = false;
    if (!performed.ok()) {
      Release(curl);
      return performed;
    }
    if (attempt.curl_code != CURLE_OK) {
      // A broken connection must not be reused.
      curl_easy_cleanup(static_cast<CURL*>(curl));
    } else {
      Release(curl);
    }
    if (attempt.too_large) {
      return Status::ResourceExhausted(request.method + " " + config_.server + request.target +
                                       ": the response is larger than " +
                                       std::to_string(options_.max_response_bytes) + " bytes");
    }
    const bool last = attempt_number >= options_.max_attempts;
    std::chrono::milliseconds wait = backoff;
    if (attempt.curl_code != CURLE_OK) {
      const std::string reason = attempt.error[0] != '\0'
                                     ? std::string(attempt.error)
                                     : std::string(curl_easy_strerror(attempt.curl_code));
      if (last || !IsRetriableTransportError(attempt.curl_code, request.idempotent)) {
        return Status::Unavailable(request.method + " " + config_.server + request.target + ": " +
                                   reason + " (after " + std::to_string(attempt_number) +
                                   (attempt_number == 1 ? " attempt)" : " attempts)"));
      }
    } else if (attempt.code == 401 && token_file_ != nullptr && !token_refreshed) {
      // The token may have been rotated since it was read: read it again, once.
      token_refreshed = true;
      force_token = true;
      if (!last) continue;
      return HttpResponse{attempt.code, std::move(attempt.body)};
    } else if (attempt.code == 429 || attempt.code >= 500) {
      if (last) return HttpResponse{attempt.code, std::move(attempt.body)};
      char* end = nullptr;
      const long seconds = std::strtol(attempt.retry_after.c_str(), &end, 10);
      if (!attempt.retry_after.empty() && end != nullptr && *end == '\0' && seconds >= 0) {
        wait = std::min<std::chrono::milliseconds>(std::chrono::seconds(seconds),
                                                   options_.backoff_max);
      }
    } else {
      return HttpResponse{attempt.code, std::move(attempt.body)};
    }
    std::this_thread::sleep_for(wait);
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

Result<long> HttpTransport::Stream(const HttpRequest& request,
                                   const std::function<bool(std::string_view)>& on_data,
                                   const std::atomic<bool>* stop, std::string* error_body) {
  Attempt attempt;
  attempt.max_body = options_.max_response_bytes;
  attempt.on_data = &on_data;
  attempt.stop = stop;
  CURL* curl = curl_easy_init();
  const Status performed = Perform(curl, request, /*force_token=*/false, attempt);
  curl_easy_cleanup(curl);
  if (!performed.ok()) return performed;
  if (attempt.too_large) {
    return Status::ResourceExhausted(request.method + " " + config_.server + request.target +
                                     ": the error response is larger than " +
                                     std::to_string(options_.max_response_bytes) + " bytes");
  }
  if (attempt.ended_by_caller) return attempt.code == 0 ? 200L : attempt.code;
  if (attempt.curl_code != CURLE_OK) {
    const std::string reason = attempt.error[0] != '\0'
                                   ? std::string(attempt.error)
                                   : std::string(curl_easy_strerror(attempt.curl_code));
    return Status::Unavailable(request.method + " " + config_.server + request.target + ": " +
                               reason);
  }
  if (error_body != nullptr) *error_body = std::move(attempt.body);
  return attempt.code;
}

}  // namespace gpuslice::kubeapi::internal
