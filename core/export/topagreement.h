#pragma once

#include <vector>

namespace leantune {

// How an exported file's top-1 classes compare with its reference's on one image.
struct TopOneCheck {
    bool agrees = true; // the written file's top-1 class is the reference's
    double margin = 0.0; // the reference's top-1 logit minus its top-2 logit
    double error = 0.0; // the largest |written - reference| logit difference on the image
};

// REFERENCE and WRITTEN: one image's CLASSES logits each. Torch-free, for any runtime's output.
TopOneCheck checkTopOne(const float *reference, const float *written, int classes);

// The verification's verdict on top-1 agreement. An image whose reference margin is below
// `tolerance` (twice the median per-image logit error: what the format's typical error on two
// logits can swap) is a near-tie: counted in nearTies, not in `agreement`, whichever class the
// file ranked first. The others must agree on at least MINAGREEMENT of them, and at least half
// the images must be decided, so an error as large as the logits' spread cannot excuse itself.
struct TopAgreement {
    int images = 0;
    int nearTies = 0; // images skipped as near-ties
    int nearTieFlips = 0; // of those, the ones whose top-1 differed
    int disagreements = 0; // decided images whose top-1 differed
    double tolerance = 0.0; // the margin below which an image is a near-tie
    double agreement = 1.0; // over the decided images (images - nearTies)
    bool ok = true;

    int decided() const { return images - nearTies; }
};

TopAgreement judgeTopAgreement(const std::vector<TopOneCheck> &checks, double minAgreement);

} // namespace leantune
