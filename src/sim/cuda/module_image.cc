#include "sim/cuda/module_image.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

namespace gpuslice::sim::cuda {
namespace {

bool IsIdentifierChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || c == '%';
}

size_t TypeBytes(std::string_view type) {
  if (type.size() < 3 || type[0] != '.') return 0;
  const char kind = type[1];
  if (kind != 'b' && kind != 'u' && kind != 's' && kind != 'f') return 0;
  const std::string_view bits = type.substr(2);
  if (bits == "8") return 1;
  if (bits == "16") return 2;
  if (bits == "32") return 4;
  if (bits == "64") return 8;
  return 0;
}

// Drops // and /* */ comments so declarations inside them are not taken for real ones.
std::string StripComments(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "//") == 0) {
      while (i < text.size() && text[i] != '\n') ++i;
      out.push_back('\n');
    } else if (text.compare(i, 2, "/*") == 0) {
      const size_t end = text.find("*/", i + 2);
      i = end == std::string_view::npos ? text.size() : end + 1;
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// The statement "... .global .align 4 .b8 name[16] ..." -> name, 16.
void ReadVariable(std::string_view statement, ModuleImage* image) {
  size_t element = 0;
  size_t position = 0;
  std::string_view name;
  size_t count = 1;
  while (position < statement.size()) {
    while (position < statement.size() &&
           std::isspace(static_cast<unsigned char>(statement[position]))) {
      ++position;
    }
    if (position >= statement.size() || statement[position] == '=') break;
    size_t end = position;
    while (end < statement.size() && !std::isspace(static_cast<unsigned char>(statement[end])) &&
           statement[end] != '=') {
      ++end;
    }
    const std::string_view token = statement.substr(position, end - position);
    if (const size_t bytes = TypeBytes(token); bytes > 0) {
      element = bytes;
    } else if (token[0] != '.' && !std::isdigit(static_cast<unsigned char>(token[0]))) {
      const size_t bracket = token.find('[');
      name = token.substr(0, bracket);
      count = 1;
      for (size_t open = bracket; open != std::string_view::npos;
           open = token.find('[', open + 1)) {
        size_t extent = 0;
        for (size_t i = open + 1;
             i < token.size() && std::isdigit(static_cast<unsigned char>(token[i])); ++i) {
          extent = extent * 10 + static_cast<size_t>(token[i] - '0');
          if (extent > (size_t{1} << 40)) break;
        }
        count *= extent == 0 ? 1 : extent;
      }
    }
    position = end;
  }
  if (element > 0 && !name.empty()) image->globals[std::string(name)] = element * count;
}

std::shared_ptr<const ModuleImage> ReadPtx(std::string_view text) {
  auto image = std::make_shared<ModuleImage>();
  image->opaque = false;
  const std::string code = StripComments(text);
  const std::string_view view = code;
  for (size_t at = view.find(".entry"); at != std::string_view::npos;
       at = view.find(".entry", at + 6)) {
    size_t start = at + 6;
    while (start < view.size() && std::isspace(static_cast<unsigned char>(view[start]))) ++start;
    size_t end = start;
    while (end < view.size() && IsIdentifierChar(view[end])) ++end;
    if (end > start) image->kernels.emplace(view.substr(start, end - start));
  }
  for (std::string_view keyword : {".global", ".const"}) {
    for (size_t at = view.find(keyword); at != std::string_view::npos;
         at = view.find(keyword, at + keyword.size())) {
      // Only module-scope declarations (state space directives inside kernels are
      // instructions such as "ld.global", preceded by a non-space).
      if (at > 0 && !std::isspace(static_cast<unsigned char>(view[at - 1]))) continue;
      const size_t end = view.find(';', at);
      if (end == std::string_view::npos) break;
      ReadVariable(view.substr(at + keyword.size(), end - at - keyword.size()), image.get());
    }
  }
  return image;
}

}  // namespace

std::shared_ptr<const ModuleImage> ReadModuleImage(const void* image, size_t limit) {
  const char* bytes = static_cast<const char*>(image);
  // PTX is printable text that declares its version.
  size_t length = 0;
  while (length < limit && bytes[length] != '\0') {
    const unsigned char c = static_cast<unsigned char>(bytes[length]);
    if (c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f) return std::make_shared<ModuleImage>();
    ++length;
  }
  const std::string_view text(bytes, length);
  if (length == limit || text.find(".version") == std::string_view::npos) {
    return std::make_shared<ModuleImage>();
  }
  return ReadPtx(text);
}

bool ReadFile(const std::string& path, std::string* content) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  std::ostringstream buffer;
  buffer << file.rdbuf();
  *content = buffer.str();
  return !file.bad();
}

}  // namespace gpuslice::sim::cuda
