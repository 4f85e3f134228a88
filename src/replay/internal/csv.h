// A small RFC 4180 reader for the trace files: comma-separated fields, optional double quotes
// ("" inside quotes is one quote), LF or CRLF line ends, a final line end optional.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpuslice::replay::internal {

// Reads records one at a time from text it does not own (the text must outlive the reader).
// Thread-compatible.
class CsvReader {
 public:
  explicit CsvReader(std::string_view text) : text_(text) {}

  // Reads the next record into `*fields` (replacing its contents). Returns true when a record
  // was read, false at the end of the input, and InvalidArgument naming the line when a quoted
  // field is not terminated or a closing quote is followed by something other than a comma or
  // a line end. A blank line is a record with one empty field.
  Result<bool> Next(std::vector<std::string>* fields);

  // The 1-based line on which the record last returned by Next() starts.
  int line() const { return record_line_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int next_line_ = 1;
  int record_line_ = 0;
};

}  // namespace gpuslice::replay::internal
