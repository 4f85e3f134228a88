// Streams, stream capture and events. A stream's state is when its queued work ends on the
// GPU timeline; synchronizing sleeps until then, and an event records that moment.
#include <algorithm>
#include <memory>

#include "sim/cuda/driver.h"
#include "sim/cuda/graph_ops.h"
#include "sim/cuda/resources.h"
#include "sim/internal/clock.h"

namespace {

using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;
using gpuslice::sim::internal::MonotonicNs;
using gpuslice::sim::internal::SleepUntil;

constexpr int kLeastPriority = 0;
constexpr int kGreatestPriority = -5;

thread_local CUstreamCaptureMode thread_capture_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

template <typename Body>
CUresult WithStream(CUstream hStream, bool per_thread, Body body) {
  return Api([&](Driver& driver) {
    CUstream_st* stream = nullptr;
    const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
    if (resolved != CUDA_SUCCESS) return resolved;
    return body(driver, stream);
  });
}

template <typename Body>
CUresult WithEvent(CUevent hEvent, Body body) {
  return Api([&](Driver& driver) {
    if (!driver.events.Contains(hEvent)) return CUDA_ERROR_INVALID_HANDLE;
    return body(driver, hEvent);
  });
}

CUresult CreateStream(CUstream* phStream, unsigned int flags, int priority) {
  return Api([&](Driver& driver) {
    if (phStream == nullptr || (flags & ~static_cast<unsigned>(CU_STREAM_NON_BLOCKING)) != 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    auto* stream = new CUstream_st();
    stream->ctx = ctx;
    stream->flags = flags;
    stream->priority = std::clamp(priority, kGreatestPriority, kLeastPriority);
    stream->id = driver.NextId();
    driver.streams.Add(stream);
    *phStream = stream;
    return CUDA_SUCCESS;
  });
}

CUresult Synchronize(CUstream hStream, bool per_thread) {
  return WithStream(hStream, per_thread, [](Driver& driver, CUstream_st* stream) {
    const CUresult capturing = gpuslice::sim::cuda::RejectWhileCapturing(stream);
    if (capturing != CUDA_SUCCESS) return capturing;
    SleepUntil(stream->tail_ns.load(std::memory_order_acquire));
    gpuslice::sim::cuda::TrimPoolsToThreshold(driver);
    return CUDA_SUCCESS;
  });
}

CUresult Query(CUstream hStream, bool per_thread) {
  return WithStream(hStream, per_thread, [](Driver&, CUstream_st* stream) {
    const CUresult capturing = gpuslice::sim::cuda::RejectWhileCapturing(stream);
    if (capturing != CUDA_SUCCESS) return capturing;
    return stream->tail_ns.load(std::memory_order_acquire) <= MonotonicNs() ? CUDA_SUCCESS
                                                                            : CUDA_ERROR_NOT_READY;
  });
}

CUresult WaitEvent(CUstream hStream, CUevent hEvent, unsigned int flags, bool per_thread) {
  return WithStream(hStream, per_thread, [&](Driver& driver, CUstream_st* stream) {
    if (!driver.events.Contains(hEvent)) return CUDA_ERROR_INVALID_HANDLE;
    if ((flags & ~static_cast<unsigned>(CU_EVENT_WAIT_EXTERNAL)) != 0)
      return CUDA_ERROR_INVALID_VALUE;
    if (gpuslice::sim::cuda::IsCapturing(stream)) return CUDA_SUCCESS;  // ordering is implied
    // Later work on the stream starts after the event's work.
    const uint64_t event_time = hEvent->time_ns.load(std::memory_order_acquire);
    uint64_t tail = stream->tail_ns.load(std::memory_order_relaxed);
    while (tail < event_time &&
           !stream->tail_ns.compare_exchange_weak(tail, event_time, std::memory_order_acq_rel)) {
    }
    return CUDA_SUCCESS;
  });
}

CUresult Record(CUevent hEvent, CUstream hStream, unsigned int flags, bool per_thread) {
  return WithStream(hStream, per_thread, [&](Driver& driver, CUstream_st* stream) {
    if (!driver.events.Contains(hEvent)) return CUDA_ERROR_INVALID_HANDLE;
    if ((flags & ~static_cast<unsigned>(CU_EVENT_RECORD_EXTERNAL)) != 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    if (hEvent->ctx != stream->ctx) return CUDA_ERROR_INVALID_HANDLE;
    if (gpuslice::sim::cuda::IsCapturing(stream)) {
      auto node = std::make_unique<CUgraphNode_st>();
      node->type = CU_GRAPH_NODE_TYPE_EVENT_RECORD;
      node->event = hEvent;
      CUresult captured = CUDA_SUCCESS;
      if (gpuslice::sim::cuda::CaptureNode(driver, stream, std::move(node), &captured)) {
        return captured;
      }
    } else if ((flags & CU_EVENT_RECORD_EXTERNAL) != 0) {
      return CUDA_ERROR_INVALID_VALUE;  // only meaningful during capture
    }
    hEvent->time_ns.store(std::max(stream->tail_ns.load(std::memory_order_acquire), MonotonicNs()),
                          std::memory_order_release);
    hEvent->recorded.store(true, std::memory_order_release);
    return CUDA_SUCCESS;
  });
}

CUresult ElapsedTime(float* pMilliseconds, CUevent hStart, CUevent hEnd) {
  return Api([&](Driver& driver) {
    if (pMilliseconds == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (!driver.events.Contains(hStart) || !driver.events.Contains(hEnd)) {
      return CUDA_ERROR_INVALID_HANDLE;
    }
    if (((hStart->flags | hEnd->flags) & CU_EVENT_DISABLE_TIMING) != 0 ||
        !hStart->recorded.load() || !hEnd->recorded.load()) {
      return CUDA_ERROR_INVALID_HANDLE;
    }
    const uint64_t start = hStart->time_ns.load(std::memory_order_acquire);
    const uint64_t end = hEnd->time_ns.load(std::memory_order_acquire);
    if (std::max(start, end) > MonotonicNs()) return CUDA_ERROR_NOT_READY;
    *pMilliseconds =
        static_cast<float>((static_cast<double>(end) - static_cast<double>(start)) / 1e6);
    return CUDA_SUCCESS;
  });
}

CUresult BeginCapture(CUstream hStream, CUstreamCaptureMode mode, bool per_thread) {
  return Api([&](Driver& driver) {
    if (mode < CU_STREAM_CAPTURE_MODE_GLOBAL || mode > CU_STREAM_CAPTURE_MODE_RELAXED) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    CUstream_st* stream = nullptr;
    const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
    if (resolved != CUDA_SUCCESS) return resolved;
    CUctx_st* ctx = stream->ctx;
    if (stream == ctx->legacy_stream.get()) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    std::lock_guard<std::mutex> lock(stream->mutex);
    if (stream->capture.status != CU_STREAM_CAPTURE_STATUS_NONE) return CUDA_ERROR_ILLEGAL_STATE;
    auto* graph = new CUgraph_st();
    driver.graphs.Add(graph);
    stream->capture = gpuslice::sim::cuda::Capture{
        graph, CU_STREAM_CAPTURE_STATUS_ACTIVE, mode, driver.NextId(), {}};
    return CUDA_SUCCESS;
  });
}

CUresult EndCapture(CUstream hStream, CUgraph* phGraph, bool per_thread) {
  return WithStream(hStream, per_thread, [&](Driver& driver, CUstream_st* stream) {
    if (phGraph == nullptr) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(stream->mutex);
    gpuslice::sim::cuda::Capture& capture = stream->capture;
    if (capture.status == CU_STREAM_CAPTURE_STATUS_NONE) return CUDA_ERROR_ILLEGAL_STATE;
    const bool invalidated = capture.status == CU_STREAM_CAPTURE_STATUS_INVALIDATED;
    CUgraph graph = capture.graph;
    capture = gpuslice::sim::cuda::Capture{};
    if (invalidated) {
      if (driver.graphs.Remove(graph)) {
        gpuslice::sim::cuda::DeleteGraph(driver, std::unique_ptr<CUgraph_st>(graph));
      }
      *phGraph = nullptr;
      return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    }
    *phGraph = graph;
    return CUDA_SUCCESS;
  });
}

CUresult IsCapturingQuery(CUstream hStream, CUstreamCaptureStatus* status, bool per_thread) {
  return WithStream(hStream, per_thread, [&](Driver&, CUstream_st* stream) {
    if (status == nullptr) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(stream->mutex);
    *status = stream->capture.status;
    return CUDA_SUCCESS;
  });
}

CUresult CaptureInfo(CUstream hStream, CUstreamCaptureStatus* status, cuuint64_t* id,
                     CUgraph* graph, const CUgraphNode** dependencies,
                     const CUgraphEdgeData** edges, size_t* count, bool per_thread) {
  return WithStream(hStream, per_thread, [&](Driver&, CUstream_st* stream) {
    if (status == nullptr) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(stream->mutex);
    const gpuslice::sim::cuda::Capture& capture = stream->capture;
    *status = capture.status;
    const bool active = capture.status == CU_STREAM_CAPTURE_STATUS_ACTIVE;
    if (id != nullptr && active) *id = capture.id;
    if (graph != nullptr && active) *graph = capture.graph;
    if (dependencies != nullptr && active) *dependencies = capture.dependencies.data();
    if (edges != nullptr && active) *edges = nullptr;  // only default edges are recorded
    if (count != nullptr && active) *count = capture.dependencies.size();
    return CUDA_SUCCESS;
  });
}

}  // namespace

// ---- Streams ----

GPUSLICE_CUDA_EXPORT CUresult cuStreamCreate(CUstream* phStream, unsigned int Flags) {
  return CreateStream(phStream, Flags, kLeastPriority);
}

GPUSLICE_CUDA_EXPORT CUresult cuStreamCreateWithPriority(CUstream* phStream, unsigned int flags,
                                                         int priority) {
  return CreateStream(phStream, flags, priority);
}

GPUSLICE_CUDA_EXPORT CUresult cuStreamDestroy_v2(CUstream hStream) {
  return Api([&](Driver& driver) {
    if (hStream == nullptr || hStream == CU_STREAM_LEGACY || hStream == CU_STREAM_PER_THREAD ||
        !driver.streams.Remove(hStream)) {
      return CUDA_ERROR_INVALID_HANDLE;
    }
    {
      std::lock_guard<std::mutex> lock(hStream->mutex);
      if (hStream->capture.graph != nullptr && driver.graphs.Remove(hStream->capture.graph)) {
        delete hStream->capture.graph;
      }
    }
    // Work already queued still runs (it is on the GPU's timeline); the handle goes away now.
    delete hStream;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuStreamSynchronize(CUstream hStream) {
  return Synchronize(hStream, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream hStream) {
  return Synchronize(hStream, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamQuery(CUstream hStream) { return Query(hStream, false); }
GPUSLICE_CUDA_EXPORT CUresult cuStreamQuery_ptsz(CUstream hStream) { return Query(hStream, true); }

GPUSLICE_CUDA_EXPORT CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent,
                                                unsigned int Flags) {
  return WaitEvent(hStream, hEvent, Flags, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent,
                                                     unsigned int Flags) {
  return WaitEvent(hStream, hEvent, Flags, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuStreamGetFlags(CUstream hStream, unsigned int* flags) {
  return WithStream(hStream, false, [&](Driver&, CUstream_st* stream) {
    if (flags == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *flags = stream->flags;
    return CUDA_SUCCESS;
  });
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamGetFlags_ptsz(CUstream hStream, unsigned int* flags) {
  return WithStream(hStream, true, [&](Driver&, CUstream_st* stream) {
    if (flags == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *flags = stream->flags;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuStreamGetPriority(CUstream hStream, int* priority) {
  return WithStream(hStream, false, [&](Driver&, CUstream_st* stream) {
    if (priority == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *priority = stream->priority;
    return CUDA_SUCCESS;
  });
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamGetPriority_ptsz(CUstream hStream, int* priority) {
  return WithStream(hStream, true, [&](Driver&, CUstream_st* stream) {
    if (priority == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *priority = stream->priority;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuStreamGetCtx(CUstream hStream, CUcontext* pctx) {
  return WithStream(hStream, false, [&](Driver&, CUstream_st* stream) {
    if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *pctx = stream->ctx;
    return CUDA_SUCCESS;
  });
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamGetCtx_ptsz(CUstream hStream, CUcontext* pctx) {
  return WithStream(hStream, true, [&](Driver&, CUstream_st* stream) {
    if (pctx == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *pctx = stream->ctx;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuStreamGetId(CUstream hStream, unsigned long long* streamId) {
  return WithStream(hStream, false, [&](Driver&, CUstream_st* stream) {
    if (streamId == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *streamId = stream->id;
    return CUDA_SUCCESS;
  });
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamGetId_ptsz(CUstream hStream, unsigned long long* streamId) {
  return WithStream(hStream, true, [&](Driver&, CUstream_st* stream) {
    if (streamId == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *streamId = stream->id;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuStreamGetDevice(CUstream hStream, CUdevice* device) {
  return WithStream(hStream, false, [&](Driver&, CUstream_st* stream) {
    if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *device = stream->ctx->device;
    return CUDA_SUCCESS;
  });
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamGetDevice_ptsz(CUstream hStream, CUdevice* device) {
  return WithStream(hStream, true, [&](Driver&, CUstream_st* stream) {
    if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *device = stream->ctx->device;
    return CUDA_SUCCESS;
  });
}

// ---- Stream capture ----

GPUSLICE_CUDA_EXPORT CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode) {
  return BeginCapture(hStream, mode, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream,
                                                           CUstreamCaptureMode mode) {
  return BeginCapture(hStream, mode, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamEndCapture(CUstream hStream, CUgraph* phGraph) {
  return EndCapture(hStream, phGraph, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph* phGraph) {
  return EndCapture(hStream, phGraph, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamIsCapturing(CUstream hStream,
                                                  CUstreamCaptureStatus* captureStatus) {
  return IsCapturingQuery(hStream, captureStatus, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamIsCapturing_ptsz(CUstream hStream,
                                                       CUstreamCaptureStatus* captureStatus) {
  return IsCapturingQuery(hStream, captureStatus, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamGetCaptureInfo(CUstream hStream,
                                                     CUstreamCaptureStatus* captureStatus_out,
                                                     cuuint64_t* id_out) {
  return CaptureInfo(hStream, captureStatus_out, id_out, nullptr, nullptr, nullptr, nullptr, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamGetCaptureInfo_ptsz(CUstream hStream,
                                                          CUstreamCaptureStatus* captureStatus_out,
                                                          cuuint64_t* id_out) {
  return CaptureInfo(hStream, captureStatus_out, id_out, nullptr, nullptr, nullptr, nullptr, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamGetCaptureInfo_v3(CUstream hStream,
                                                        CUstreamCaptureStatus* captureStatus_out,
                                                        cuuint64_t* id_out, CUgraph* graph_out,
                                                        const CUgraphNode** dependencies_out,
                                                        const CUgraphEdgeData** edgeData_out,
                                                        size_t* numDependencies_out) {
  return CaptureInfo(hStream, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out,
                     numDependencies_out, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuStreamGetCaptureInfo_v3_ptsz(
    CUstream hStream, CUstreamCaptureStatus* captureStatus_out, cuuint64_t* id_out,
    CUgraph* graph_out, const CUgraphNode** dependencies_out, const CUgraphEdgeData** edgeData_out,
    size_t* numDependencies_out) {
  return CaptureInfo(hStream, captureStatus_out, id_out, graph_out, dependencies_out, edgeData_out,
                     numDependencies_out, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode* mode) {
  if (mode == nullptr || *mode < CU_STREAM_CAPTURE_MODE_GLOBAL ||
      *mode > CU_STREAM_CAPTURE_MODE_RELAXED) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  std::swap(*mode, thread_capture_mode);
  return CUDA_SUCCESS;
}

// ---- Events ----

GPUSLICE_CUDA_EXPORT CUresult cuEventCreate(CUevent* phEvent, unsigned int Flags) {
  return Api([&](Driver& driver) {
    constexpr unsigned int kKnown =
        CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
    if (phEvent == nullptr || (Flags & ~kKnown) != 0 ||
        ((Flags & CU_EVENT_INTERPROCESS) != 0 && (Flags & CU_EVENT_DISABLE_TIMING) == 0)) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    auto* event = new CUevent_st();
    event->ctx = ctx;
    event->flags = Flags;
    driver.events.Add(event);
    *phEvent = event;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuEventRecord(CUevent hEvent, CUstream hStream) {
  return Record(hEvent, hStream, 0, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuEventRecord_ptsz(CUevent hEvent, CUstream hStream) {
  return Record(hEvent, hStream, 0, true);
}
GPUSLICE_CUDA_EXPORT CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream,
                                                     unsigned int flags) {
  return Record(hEvent, hStream, flags, false);
}
GPUSLICE_CUDA_EXPORT CUresult cuEventRecordWithFlags_ptsz(CUevent hEvent, CUstream hStream,
                                                          unsigned int flags) {
  return Record(hEvent, hStream, flags, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuEventQuery(CUevent hEvent) {
  return WithEvent(hEvent, [](Driver&, CUevent_st* event) {
    return event->time_ns.load(std::memory_order_acquire) <= MonotonicNs() ? CUDA_SUCCESS
                                                                           : CUDA_ERROR_NOT_READY;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuEventSynchronize(CUevent hEvent) {
  return WithEvent(hEvent, [](Driver& driver, CUevent_st* event) {
    SleepUntil(event->time_ns.load(std::memory_order_acquire));
    gpuslice::sim::cuda::TrimPoolsToThreshold(driver);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuEventDestroy_v2(CUevent hEvent) {
  return Api([&](Driver& driver) {
    if (!driver.events.Remove(hEvent)) return CUDA_ERROR_INVALID_HANDLE;
    delete hEvent;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuEventElapsedTime(float* pMilliseconds, CUevent hStart,
                                                 CUevent hEnd) {
  return ElapsedTime(pMilliseconds, hStart, hEnd);
}

GPUSLICE_CUDA_EXPORT CUresult cuEventElapsedTime_v2(float* pMilliseconds, CUevent hStart,
                                                    CUevent hEnd) {
  return ElapsedTime(pMilliseconds, hStart, hEnd);
}
