# Fails when the first C++ block of README.md differs from examples/readme.cpp (minus its first,
# comment line): the example that the test suite builds and runs is the one the README shows.
#   cmake -DREADME=README.md -DEXAMPLE=examples/readme.cpp -P check_readme_example.cmake
file(READ ${README} readme)
file(READ ${EXAMPLE} example)
string(FIND "${readme}" "```cpp\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "no ```cpp block in ${README}")
endif()
math(EXPR start "${start} + 7")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "```" stop)
string(SUBSTRING "${rest}" 0 ${stop} block)
string(FIND "${example}" "\n" first_newline)
math(EXPR first_newline "${first_newline} + 1")
string(SUBSTRING "${example}" ${first_newline} -1 body)
if(NOT block STREQUAL body)
  message(FATAL_ERROR "README.md's example and ${EXAMPLE} differ; keep them the same")
endif()
