#include "replay/internal/csv.h"

namespace gpuslice::replay::internal {

Result<bool> CsvReader::Next(std::vector<std::string>* fields) {
  fields->clear();
  if (pos_ >= text_.size()) return false;
  record_line_ = next_line_;
  std::string field;
  while (true) {
    if (pos_ < text_.size() && text_[pos_] == '"') {
      const int quote_line = next_line_;
      ++pos_;
      while (true) {
        if (pos_ >= text_.size()) {
          return Status::InvalidArgument("line " + std::to_string(quote_line) +
                                         ": quoted field is not terminated");
        }
        const char c = text_[pos_++];
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            field.push_back('"');
            ++pos_;
            continue;
          }
          break;
        }
        if (c == '\n') ++next_line_;
        field.push_back(c);
      }
      const bool at_separator =
          pos_ >= text_.size() || text_[pos_] == ',' || text_[pos_] == '\n' ||
          (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n');
      if (!at_separator) {
        return Status::InvalidArgument("line " + std::to_string(next_line_) +
                                       ": unexpected text after a closing quote");
      }
    } else {
      while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n') {
        if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') break;
        field.push_back(text_[pos_++]);
      }
    }
    fields->push_back(std::move(field));
    field.clear();
    if (pos_ >= text_.size()) return true;
    if (text_[pos_] == ',') {
      ++pos_;
      continue;
    }
    // A line end: "\n" or "\r\n".
    pos_ += text_[pos_] == '\r' ? 2 : 1;
    ++next_line_;
    return true;
  }
}

}  // namespace gpuslice::replay::internal
