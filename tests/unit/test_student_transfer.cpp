// A fine-tune's Live student (ddpm/student_transfer.h): the base's student moved by the
// fine-tune's change, computed exactly, refused by name where the three models do not belong
// together, and written by train() beside a fine-tune's model when its base has one.
#include <gtest/gtest.h>

#include <filesystem>

#include "ddpm/distill.h"
#include "ddpm/model_file.h"
#include "ddpm/student_transfer.h"
#include "ddpm/trainer.h"
#include "error_of.h"
#include "temp_dir.h"
#include "random_model.h"
#include "trained_model.h"

namespace {

using ddpm::testing::error_of;
using ddpm::testing::random_model;
using ddpm::testing::TempDir;
using ddpm::testing::tiny_info;

const std::string kAssets = DDPM_SOURCE_DIR "/assets/samples";

}  // namespace

TEST(StudentTransfer, MovesTheStudentByTheFineTunesChange) {
  const auto base_info = tiny_info({"a", "b"});
  const ddpm::Model base = random_model(base_info, 1);
  const ddpm::Model tuned = random_model(tiny_info({"a", "b", "new"}), 2);  // one class added
  const ddpm::Model student = random_model(ddpm::student_info(base_info, ddpm::DistillSpec{}), 3);
  const ddpm::Model out = ddpm::transfer_student(base, tuned, student);
  EXPECT_TRUE(out.info.unet.guidance_input);
  EXPECT_EQ(out.info.class_names, tuned.info.class_names);
  EXPECT_EQ(out.info.unet.num_classes, 3);
  const auto b = ddpm::state_dict(*base.unet), t = ddpm::state_dict(*tuned.unet), s = ddpm::state_dict(*student.unet);
  int moved = 0, own = 0;
  for (const auto& [name, w] : ddpm::state_dict(*out.unet)) {
    if (!b.count(name)) {  // the student's guidance embedding
      EXPECT_TRUE(torch::equal(w, s.at(name))) << name;
      ++own;
    } else if (name == "label_emb.weight") {
      EXPECT_TRUE(torch::equal(w.narrow(0, 0, 2), s.at(name) + (t.at(name).narrow(0, 0, 2) - b.at(name)))) << name;
      EXPECT_TRUE(torch::equal(w[2], t.at(name)[2])) << "the added class's row is the fine-tune's";
    } else {
      EXPECT_TRUE(torch::equal(w, s.at(name) + (t.at(name) - b.at(name)))) << name;
      ++moved;
    }
  }
  EXPECT_GT(moved, 20);
  EXPECT_GT(own, 0);
}

TEST(StudentTransfer, ModelsThatDoNotBelongTogetherAreRefusedByName) {
  const auto base_info = tiny_info({"a", "b"});
  const ddpm::Model base = random_model(base_info, 1);
  const ddpm::Model student = random_model(ddpm::student_info(base_info, ddpm::DistillSpec{}), 3);
  EXPECT_NE(error_of([&] { ddpm::transfer_student(base, base, base); }).find("not guidance-distilled"),
            std::string::npos);
  const ddpm::Model renamed = random_model(tiny_info({"b", "a"}), 2);
  EXPECT_NE(error_of([&] { ddpm::transfer_student(base, renamed, student); }).find("do not start with its base's (a, b)"),
            std::string::npos);
  const ddpm::Model other_student = random_model(ddpm::student_info(tiny_info({"x", "y"}), ddpm::DistillSpec{}), 3);
  EXPECT_NE(error_of([&] { ddpm::transfer_student(base, base, other_student); }).find("are not its base's"),
            std::string::npos);
  auto wide = tiny_info({"a", "b"});
  wide.unet.base_channels *= 2;
  const ddpm::Model wider = random_model(wide, 4);
  EXPECT_NE(error_of([&] { ddpm::transfer_student(base, wider, student); }).find("not one architecture"),
            std::string::npos);
}

TEST(StudentTransfer, TrainWritesAFineTunesStudentWhereItsBaseHasOne) {
  TempDir dir;
  ddpm::Model base = ddpm::testing::trained_sample_model();
  const std::string base_path = dir / "base.safetensors";
  ddpm::save_model(base_path, base.unet, base.info);
  ddpm::TrainOptions o;
  o.assets = kAssets;
  o.init_model = base_path;
  o.steps = 2;
  o.out_model = dir / "tuned.safetensors";
  // No student beside the base: none is written.
  ddpm::TrainResult r = ddpm::train(o);
  EXPECT_TRUE(r.student.empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "tuned.student.safetensors"));

  // The folder's student.safetensors (the default model's layout) is found and moved.
  ddpm::Model student = random_model(ddpm::student_info(base.info, ddpm::DistillSpec{}), 5);
  ddpm::save_model(dir / "student.safetensors", student.unet, student.info);
  r = ddpm::train(o);
  ASSERT_EQ(r.student, dir / "tuned.student.safetensors");
  EXPECT_EQ(ddpm::find_student(o.out_model), r.student);
  const ddpm::Model written = ddpm::load_model(r.student);
  const ddpm::Model tuned = ddpm::load_model(o.out_model);
  const ddpm::Model expected = ddpm::transfer_student(base, tuned, student);
  EXPECT_TRUE(written.info.unet.guidance_input);
  const auto e = ddpm::state_dict(*expected.unet);
  for (const auto& [name, w] : ddpm::state_dict(*written.unet)) EXPECT_TRUE(torch::equal(w, e.at(name))) << name;

  // Asked not to, or for a distillation: none.
  std::filesystem::remove(r.student);
  o.live_student = false;
  EXPECT_TRUE(ddpm::train(o).student.empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "tuned.student.safetensors"));
}
