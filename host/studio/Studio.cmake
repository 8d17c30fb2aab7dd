# ddpm-studio. Included from host/CMakeLists.txt once GLFW, ImGui, OpenGL and Python are found.

# The OpenGL 3.3 core loader, generated at build time from Debian's python3-glad, offline.
set(_glad ${CMAKE_CURRENT_BINARY_DIR}/glad)
add_custom_command(
  OUTPUT ${_glad}/src/gl.c ${_glad}/include/glad/gl.h
  COMMAND ${Python3_EXECUTABLE} -m glad --quiet --reproducible --api gl:core=3.3 --out-path ${_glad} c
  COMMENT "Generating the OpenGL 3.3 core loader with glad"
  VERBATIM)
add_library(ddpm_glad STATIC ${_glad}/src/gl.c)
target_include_directories(ddpm_glad PUBLIC ${_glad}/include)

add_executable(ddpm_studio
  studio/main.cpp
  studio/studio.cpp
  studio/generate_panel.cpp
  studio/train_panel.cpp
  studio/preview.cpp
  studio/gl_util.cpp
  studio/generation.cpp
  studio/training.cpp
  studio/model_state.cpp
  studio/mask_editor.cpp
  studio/settings.cpp
  studio/frame_grid.cpp
  studio/live.cpp
  studio/live_panel.cpp
  studio/live_script.cpp
)
set_target_properties(ddpm_studio PROPERTIES OUTPUT_NAME ddpm-studio)
target_compile_options(ddpm_studio PRIVATE -Wall -Wextra)
target_include_directories(ddpm_studio PRIVATE studio)
# The source tree's shaders/ are found when running from the build tree; installed, they live
# in <prefix>/share/ddpm/shaders.
target_compile_definitions(ddpm_studio PRIVATE
  DDPM_SOURCE_SHADERS="${PROJECT_SOURCE_DIR}/shaders"
  DDPM_INSTALL_DATADIR="${CMAKE_INSTALL_DATADIR}/ddpm")
target_link_libraries(ddpm_studio PRIVATE ddpm_host_common ddpm_glad PkgConfig::GLFW PkgConfig::IMGUI
                      OpenGL::GL CLI11::CLI11)
if(TARGET ddpm_plugin)
  add_dependencies(ddpm_studio ddpm_plugin)
endif()
install(TARGETS ddpm_studio RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/shaders/ DESTINATION ${CMAKE_INSTALL_DATADIR}/ddpm/shaders)

if(DDPM_BUILD_TESTS)
  # The settings file needs no display: a unit test of its own.
  find_package(GTest REQUIRED)
  include(GoogleTest)
  add_executable(ddpm_studio_settings_tests studio/settings.cpp tests/test_settings.cpp)
  target_include_directories(ddpm_studio_settings_tests PRIVATE studio)
  target_link_libraries(ddpm_studio_settings_tests PRIVATE ddpm_io nlohmann_json::nlohmann_json PkgConfig::IMGUI
                        GTest::gtest_main)
  gtest_discover_tests(ddpm_studio_settings_tests DISCOVERY_TIMEOUT 60)
  include(studio/StudioTests.cmake)
endif()
