# Reads the project's CUDA ABI headers and writes the list of checks the ABI test compiles:
# every enumerator, every record with each of its fields, and every declared entry point.
# Keeping the list derived from the headers means a new declaration is checked automatically.
#
# Usage: cmake -DTYPES_HEADER=<cuda_types.h> -DFUNCTIONS_HEADER=<cuda.h> -DOUTPUT=<file.inc>
#              -P generate_abi_checks.cmake

file(STRINGS "${TYPES_HEADER}" lines)
set(out "// Generated from ${TYPES_HEADER} and ${FUNCTIONS_HEADER}; do not edit.\n")

set(kind "")          # "enum" or "record" while inside a typedef
set(depth 0)          # brace depth inside a record
set(fields_1 "")      # direct fields of the record
set(fields_2 "")      # fields of a nested aggregate, kept when it is anonymous
foreach(line IN LISTS lines)
  if(kind STREQUAL "")
    if(line MATCHES "^typedef enum [A-Za-z0-9_]+ {$")
      set(kind "enum")
    elseif(line MATCHES "^typedef (struct|union) [A-Za-z0-9_]+ {$")
      set(kind "record")
      set(depth 1)
      set(fields_1 "")
    endif()
  elseif(kind STREQUAL "enum")
    if(line MATCHES "^}")
      set(kind "")
    elseif(line MATCHES "^  ([A-Za-z_][A-Za-z0-9_]*)( = [^,]+)?,?$")
      string(APPEND out "GPUSLICE_CHECK_ENUMERATOR(${CMAKE_MATCH_1})\n")
    endif()
  else()
    if(line MATCHES "^} ([A-Za-z0-9_]+);$")
      string(APPEND out "GPUSLICE_CHECK_RECORD(${CMAKE_MATCH_1})\n")
      foreach(field IN LISTS fields_1)
        string(APPEND out "GPUSLICE_CHECK_FIELD(${CMAKE_MATCH_1}, ${field})\n")
      endforeach()
      set(kind "")
    elseif(line MATCHES "^ +(struct|union) {$")
      math(EXPR depth "${depth} + 1")
      set(fields_2 "")
    elseif(line MATCHES "^ +} *([A-Za-z0-9_]*);$")
      math(EXPR depth "${depth} - 1")
      if(depth EQUAL 1)
        if(CMAKE_MATCH_1 STREQUAL "")
          list(APPEND fields_1 ${fields_2})
        else()
          list(APPEND fields_1 ${CMAKE_MATCH_1})
        endif()
      endif()
    elseif(line MATCHES "^ +[A-Za-z_][A-Za-z0-9_ *]*[ *]([A-Za-z_][A-Za-z0-9_]*)(\\[[^]]*\\])?;$")
      if(depth EQUAL 1)
        list(APPEND fields_1 ${CMAKE_MATCH_1})
      elseif(depth EQUAL 2)
        list(APPEND fields_2 ${CMAKE_MATCH_1})
      endif()
    endif()
  endif()
endforeach()

file(READ "${FUNCTIONS_HEADER}" functions)
string(REGEX MATCHALL "\nCUresult [A-Za-z0-9_]+\\(" entry_points "${functions}")
foreach(entry IN LISTS entry_points)
  string(REGEX REPLACE "\nCUresult ([A-Za-z0-9_]+)\\(" "\\1" name "${entry}")
  string(APPEND out "GPUSLICE_CHECK_ENTRY_POINT(${name})\n")
endforeach()

file(WRITE "${OUTPUT}.tmp" "${out}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
