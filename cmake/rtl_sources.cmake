# SOP_RTL_SOURCES: the decode unit's RTL in compile order, absolute paths, read from the one file list
# SOP_RTL_DIR/sop_decode_unit.f (paths relative to SOP_RTL_DIR; text from `//` or `#` on is a comment).
# Included by every CMakeLists that verilates the unit (model/tlm, tests/rtl); editing the list re-runs the
# configuration. SOP_RTL_DIR is the source tree's rtl/ unless the cache says otherwise: the mutation test
# (tests/rtl/mutation/rtl_mutants.py, docs/rtl.md) builds a copy of rtl/ with one change applied.
set(SOP_RTL_DIR "${PROJECT_SOURCE_DIR}/rtl" CACHE PATH
  "Folder holding the decode unit's RTL and its file list sop_decode_unit.f (default: the source tree's rtl/)")
get_filename_component(sop_rtl_dir "${SOP_RTL_DIR}" ABSOLUTE BASE_DIR "${CMAKE_BINARY_DIR}")
set(SOP_RTL_FILE_LIST ${sop_rtl_dir}/sop_decode_unit.f)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${SOP_RTL_FILE_LIST})
if(NOT EXISTS ${SOP_RTL_FILE_LIST})
  message(FATAL_ERROR "${SOP_RTL_FILE_LIST}: the RTL file list is missing (SOP_RTL_DIR=${SOP_RTL_DIR})")
endif()
file(STRINGS ${SOP_RTL_FILE_LIST} sop_rtl_list_lines)
set(SOP_RTL_SOURCES "")
foreach(line IN LISTS sop_rtl_list_lines)
  string(REGEX REPLACE "(//|#).*$" "" line "${line}")
  string(STRIP "${line}" line)
  if(NOT line STREQUAL "")
    if(NOT EXISTS ${sop_rtl_dir}/${line})
      message(FATAL_ERROR "${sop_rtl_dir}/${line}: listed in ${SOP_RTL_FILE_LIST} but not found")
    endif()
    list(APPEND SOP_RTL_SOURCES ${sop_rtl_dir}/${line})
  endif()
endforeach()
if(NOT SOP_RTL_SOURCES)
  message(FATAL_ERROR "${SOP_RTL_FILE_LIST}: the RTL file list names no source")
endif()

# Verilates the decode unit with one parameter set into `target` (Verilator's C++ model PREFIX): the one
# place that maps a configuration to sop_decode_unit's parameters, and the only verilate() call of the tree.
# --assert: the RTL's named assertions run in every simulation (regression and the RTL engine of `sop
# simulate`); EXTRA_ARGS cannot take it back. TRACE / COVERAGE pass through to verilate(); EXTRA_ARGS are
# further Verilator arguments (e.g. -GIndexBits=..., -DSOP_BREAK_MULTIPLY). Every model's output folder is
# recorded in the global property SOP_VERILATED_MODEL_DIRS (ctest rtl_models_assert_on reads Verilator's
# record of the command there).
function(sop_verilate_decode_unit target prefix lanes code_bits layers fp16 ssign sexp sman ssub)
  cmake_parse_arguments(ARG "TRACE;COVERAGE" "" "EXTRA_ARGS" ${ARGN})
  set(flags)
  if(ARG_TRACE)
    list(APPEND flags TRACE)
  endif()
  if(ARG_COVERAGE)
    list(APPEND flags COVERAGE)
  endif()
  foreach(arg IN LISTS ARG_EXTRA_ARGS)
    if(arg MATCHES "^--?no-assert")
      message(FATAL_ERROR "sop_verilate_decode_unit(${prefix}): ${arg} would turn the RTL's assertions off")
    endif()
  endforeach()
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/${target}.dir/${prefix}.dir)
  verilate(${target} ${flags}
    SOURCES ${SOP_RTL_SOURCES}
    TOP_MODULE sop_decode_unit
    PREFIX ${prefix}
    DIRECTORY ${dir}
    VERILATOR_ARGS --x-assign fast --x-initial fast --assert
      -GLanes=${lanes} -GCodeBits=${code_bits} -GResidentLayers=${layers} -GFp16Entries=1'b${fp16}
      -GScaleHasSign=1'b${ssign} -GScaleExpBits=${sexp} -GScaleManBits=${sman} -GScaleSubnormals=1'b${ssub}
      ${ARG_EXTRA_ARGS})
  set_property(GLOBAL APPEND PROPERTY SOP_VERILATED_MODEL_DIRS "${prefix}=${dir}")
endfunction()
