# SOP_RTL_SOURCES: the decode unit's RTL in compile order, absolute paths, read from the one file list
# rtl/sop_decode_unit.f (paths relative to rtl/; text from `//` or `#` on is a comment). Included by every
# CMakeLists that verilates the unit (model/tlm, tests/rtl); editing the list re-runs the configuration.
set(SOP_RTL_FILE_LIST ${PROJECT_SOURCE_DIR}/rtl/sop_decode_unit.f)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${SOP_RTL_FILE_LIST})
if(NOT EXISTS ${SOP_RTL_FILE_LIST})
  message(FATAL_ERROR "${SOP_RTL_FILE_LIST}: the RTL file list is missing")
endif()
file(STRINGS ${SOP_RTL_FILE_LIST} sop_rtl_list_lines)
set(SOP_RTL_SOURCES "")
foreach(line IN LISTS sop_rtl_list_lines)
  string(REGEX REPLACE "(//|#).*$" "" line "${line}")
  string(STRIP "${line}" line)
  if(NOT line STREQUAL "")
    if(NOT EXISTS ${PROJECT_SOURCE_DIR}/rtl/${line})
      message(FATAL_ERROR "${PROJECT_SOURCE_DIR}/rtl/${line}: listed in ${SOP_RTL_FILE_LIST} but not found")
    endif()
    list(APPEND SOP_RTL_SOURCES ${PROJECT_SOURCE_DIR}/rtl/${line})
  endif()
endforeach()
if(NOT SOP_RTL_SOURCES)
  message(FATAL_ERROR "${SOP_RTL_FILE_LIST}: the RTL file list names no source")
endif()

# Verilates the decode unit with one parameter set into `target` (Verilator's C++ model PREFIX): the one
# place that maps a configuration to sop_decode_unit's parameters. --assert: the RTL's named assertions
# run in every simulation (regression and the RTL engine of `sop simulate`). TRACE / COVERAGE pass through to
# verilate(); EXTRA_ARGS are further Verilator arguments (e.g. -GIndexBits=..., -DSOP_BREAK_MULTIPLY).
function(sop_verilate_decode_unit target prefix lanes code_bits layers fp16 ssign sexp sman ssub)
  cmake_parse_arguments(ARG "TRACE;COVERAGE" "" "EXTRA_ARGS" ${ARGN})
  set(flags)
  if(ARG_TRACE)
    list(APPEND flags TRACE)
  endif()
  if(ARG_COVERAGE)
    list(APPEND flags COVERAGE)
  endif()
  verilate(${target} ${flags}
    SOURCES ${SOP_RTL_SOURCES}
    TOP_MODULE sop_decode_unit
    PREFIX ${prefix}
    VERILATOR_ARGS --x-assign fast --x-initial fast --assert
      -GLanes=${lanes} -GCodeBits=${code_bits} -GResidentLayers=${layers} -GFp16Entries=1'b${fp16}
      -GScaleHasSign=1'b${ssign} -GScaleExpBits=${sexp} -GScaleManBits=${sman} -GScaleSubnormals=1'b${ssub}
      ${ARG_EXTRA_ARGS})
endfunction()
