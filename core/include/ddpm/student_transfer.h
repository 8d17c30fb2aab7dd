#pragma once
// A guidance-distilled student for a fine-tune of its teacher, without distilling again.
//
// A fine-tune changes the teacher's weights by tuned - base; the student was distilled from
// base and shares every one of its weights (plus its guidance embedding). Adding the same
// change to the student's weights carries the fine-tune's style over to the one-forward guided
// prediction, as style adapters trained on a base image model are applied to its distilled
// few-step versions. Measured on a 10-minute OpenMoji fine-tune (tests/bench/NOTES.md): the
// base's student scores the new style at FD 14.4, the transferred one at 2.7 (the tuned model
// itself: 1.9), at half the tuned model's network images a stage.
#include <string>

#include "ddpm/io/student_file.h"
#include "ddpm/model_file.h"

namespace ddpm {

// `student` + (`tuned` - `base`) over every weight the three share; rows of classes the
// fine-tune added (tuned has more class rows than base) are the tuned model's. Throws
// ddpm::Error naming the tensor when the three are not one architecture, when `student` is not
// guidance-distilled, or when the class names do not line up (base's, then tuned's new ones).
Model transfer_student(const Model& base, const Model& tuned, const Model& student);

// Where a model's Live student is written and found (the same rule for the studio).
using io::find_student;
using io::student_path_for;

}  // namespace ddpm
