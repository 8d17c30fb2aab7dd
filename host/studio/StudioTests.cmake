# Studio tests: run under Xvfb with Mesa's software OpenGL (llvmpipe).
find_program(XVFB_RUN xvfb-run)
if(NOT XVFB_RUN)
  message(STATUS "studio tests skipped: xvfb-run not found")
  return()
endif()
# tests/xvfb_run.sh keeps the program's exit status when xvfb-run's own clean-up fails.
add_test(NAME studio.shaders COMMAND sh ${PROJECT_SOURCE_DIR}/tests/xvfb_run.sh $<TARGET_FILE:ddpm_studio> --check-shaders)
set_tests_properties(studio.shaders PROPERTIES TIMEOUT 60 ENVIRONMENT "LIBGL_ALWAYS_SOFTWARE=1")

# The studio as a user starts it: with the default model.
set(_studio_model ${PROJECT_SOURCE_DIR}/assets/emoji32/model.safetensors)
add_test(NAME studio.end_to_end
         COMMAND sh ${PROJECT_SOURCE_DIR}/host/tests/test_studio.sh $<TARGET_FILE:ddpm_studio>
                 $<TARGET_FILE:ddpm_plugin> ${PROJECT_SOURCE_DIR}/plugin/python ${_studio_model}
                 ${PROJECT_SOURCE_DIR}/assets/samples ${CMAKE_CURRENT_BINARY_DIR}/tests/scratch)
set_tests_properties(studio.end_to_end PROPERTIES TIMEOUT 600 ENVIRONMENT "LIBGL_ALWAYS_SOFTWARE=1")
