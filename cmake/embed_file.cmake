# Script mode (cmake -P): writes OUTPUT, a C++ source defining
# `const std::string_view gpuslice::embedded::<SYMBOL>` with the bytes of INPUT.
file(READ "${INPUT}" content)
string(FIND "${content}" ")gpuslice_embed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )gpuslice_embed\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT}; do not edit.\n"
  "#include <string_view>\n"
  "namespace gpuslice::embedded {\n"
  "extern const std::string_view ${SYMBOL};\n"
  "const std::string_view ${SYMBOL} = R\"gpuslice_embed(${content})gpuslice_embed\";\n"
  "}  // namespace gpuslice::embedded\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
