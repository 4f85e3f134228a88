// The one place where gpuslice Status values become gRPC status codes.
#pragma once

#include <grpcpp/support/status.h>

#include "core/status.h"

namespace gpuslice::plugin {

grpc::Status ToGrpcStatus(const Status& status);

// The inverse, for clients of the kubelet's services.
Status FromGrpcStatus(const grpc::Status& status, const std::string& context);

}  // namespace gpuslice::plugin
