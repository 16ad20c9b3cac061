# Runs one compile-fail test (see tests/compile_fail/README.md):
#   cmake -DCOMPILER=c++ -DSOURCE=file.cpp -DINCLUDES=a;b [-DPRELUDE=header] -P compile_fail.cmake
# The file must compile as it is, and fail with -DSTATIX_EXPECT_FAIL; every `// expect: REGEX` line of the
# file must match within the first `// within-lines: N` lines (default 12) of the compiler's output, and
# `// max-lines: N` bounds the whole diagnostic of g++ (the compiler the short-diagnostic goal is set
# for; clang adds a second "not an integral constant expression" error after each failed rule).
cmake_policy(SET CMP0007 NEW)
file(STRINGS ${SOURCE} expectations REGEX "^// expect: ")
file(STRINGS ${SOURCE} within_line REGEX "^// within-lines: ")
file(STRINGS ${SOURCE} max_line REGEX "^// max-lines: ")
set(flags -std=c++20 -fsyntax-only -march=native)
foreach(dir ${INCLUDES})
  if(dir)
    list(APPEND flags -I${dir})
  endif()
endforeach()
if(PRELUDE)  # statix precompiled (tests/CMakeLists.txt): the same declarations, parsed once
  list(APPEND flags -include ${PRELUDE})
endif()

execute_process(COMMAND ${COMPILER} ${flags} ${SOURCE} RESULT_VARIABLE ok_result ERROR_VARIABLE ok_output)
if(NOT ok_result EQUAL 0)
  message(FATAL_ERROR "the valid variant of ${SOURCE} does not compile:\n${ok_output}")
endif()

execute_process(COMMAND ${COMPILER} ${flags} -DSTATIX_EXPECT_FAIL ${SOURCE} RESULT_VARIABLE bad_result
                ERROR_VARIABLE output OUTPUT_VARIABLE stdout_output)
string(APPEND output "${stdout_output}")
if(bad_result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled with STATIX_EXPECT_FAIL; it must not")
endif()

string(REPLACE "\n" ";" lines "${output}")
list(LENGTH lines line_count)
set(within 12)
if(within_line)
  string(REGEX REPLACE "^// within-lines: " "" within "${within_line}")
endif()
if(line_count LESS within)
  set(within ${line_count})
endif()
list(SUBLIST lines 0 ${within} head_lines)
string(JOIN "\n" head "${head_lines}")
foreach(line ${expectations})
  string(REGEX REPLACE "^// expect: " "" pattern "${line}")
  if(NOT head MATCHES "${pattern}")
    message(FATAL_ERROR "expected /${pattern}/ in the first ${within} lines of the diagnostic:\n${output}")
  endif()
endforeach()
if(max_line AND COMPILER_ID STREQUAL "GNU")
  string(REGEX REPLACE "^// max-lines: " "" max "${max_line}")
  if(line_count GREATER max)
    message(FATAL_ERROR "the diagnostic has ${line_count} lines, more than ${max}:\n${output}")
  endif()
endif()
message(STATUS "${SOURCE}: fails as expected (${line_count} lines of diagnostic)")
