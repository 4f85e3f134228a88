# Helpers shared by every module's CMakeLists.txt.

# gpuslice_test(<name> SOURCES <files...> LIBS <targets...> [LABELS <labels...>]
#               [TIMEOUT <seconds, default 300>])
# Builds one GoogleTest binary and registers each of its tests with ctest. Tests get the
# build's bin/ and lib/ directories so they can start the project's own binaries and dlopen
# its libraries by path, never through the system's search path.
function(gpuslice_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gmock GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    GPUSLICE_BIN_DIR="${CMAKE_RUNTIME_OUTPUT_DIRECTORY}"
    GPUSLICE_LIB_DIR="${CMAKE_LIBRARY_OUTPUT_DIRECTORY}"
    GPUSLICE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
  # gtest_discover_tests (CMake 3.25) flattens a list of labels into its properties, so tests
  # with several labels get them from a script ctest runs after discovery.
  list(LENGTH ARG_LABELS label_count)
  if(label_count GREATER 1)
    set(labels_file "${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake")
    file(WRITE "${labels_file}"
      "if(${name}_TESTS)\n  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\")\nendif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_file}")
  endif()
endfunction()

# gpuslice_embed(<target> <symbol> <file>)
# Compiles the contents of <file> (relative to the calling CMakeLists.txt) into <target> as
# `const std::string_view gpuslice::embedded::<symbol>`, rebuilt whenever the file changes.
# Consumers declare it themselves: `namespace gpuslice::embedded { extern const
# std::string_view <symbol>; }`.
function(gpuslice_embed target symbol file)
  get_filename_component(input "${file}" ABSOLUTE)
  set(output "${CMAKE_CURRENT_BINARY_DIR}/embedded/${symbol}.cc")
  add_custom_command(
    OUTPUT "${output}"
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${output} -DSYMBOL=${symbol}
            -P "${PROJECT_SOURCE_DIR}/cmake/embed_file.cmake"
    DEPENDS "${input}" "${PROJECT_SOURCE_DIR}/cmake/embed_file.cmake"
    COMMENT "Embedding ${file}")
  target_sources(${target} PRIVATE "${output}")
endfunction()

# gpuslice_lean_runtime(<target>)
# For code loaded into other people's processes (libgpuslice.so and what it links): no C++
# exceptions or RTTI, hidden symbols, and glibc functions pinned to their oldest versions
# (src/core/abi/glibc_compat.h) so the library loads whatever the container's glibc.
function(gpuslice_lean_runtime target)
  target_compile_options(${target} PRIVATE -fno-exceptions -fno-rtti -fvisibility=hidden
    -fvisibility-inlines-hidden -include ${PROJECT_SOURCE_DIR}/src/core/abi/glibc_compat.h)
endfunction()
