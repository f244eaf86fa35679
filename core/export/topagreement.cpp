#include "export/topagreement.h"

#include <algorithm>
#include <cmath>

namespace leantune {

TopOneCheck checkTopOne(const float *reference, const float *written, int classes)
{
    TopOneCheck c;
    if (classes < 1)
        return c;
    // The first maximum wins a tie, as torch::argmax.
    int top = 0, topWritten = 0;
    for (int k = 1; k < classes; ++k) {
        if (reference[k] > reference[top])
            top = k;
        if (written[k] > written[topWritten])
            topWritten = k;
    }
    double second = -INFINITY;
    for (int k = 0; k < classes; ++k) {
        if (k != top)
            second = std::max(second, double(reference[k]));
        c.error = std::max(c.error, std::abs(double(written[k]) - double(reference[k])));
    }
    c.agrees = top == topWritten;
    c.margin = classes > 1 ? double(reference[top]) - second : INFINITY;
    return c;
}

TopAgreement judgeTopAgreement(const std::vector<TopOneCheck> &checks, double minAgreement)
{
    TopAgreement a;
    a.images = int(checks.size());
    if (checks.empty())
        return a;
    std::vector<double> errors;
    errors.reserve(checks.size());
    for (const TopOneCheck &c : checks)
        errors.push_back(c.error);
    std::nth_element(errors.begin(), errors.begin() + errors.size() / 2, errors.end());
    // The median, not the largest: with the largest error, every disagreement would be one the
    // error can explain, and a file wrong on a few images would excuse itself.
    a.tolerance = 2.0 * errors[errors.size() / 2];
    for (const TopOneCheck &c : checks) {
        if (c.margin < a.tolerance) {
            ++a.nearTies;
            a.nearTieFlips += c.agrees ? 0 : 1;
        } else if (!c.agrees) {
            ++a.disagreements;
        }
    }
    a.agreement = a.decided() > 0 ? 1.0 - double(a.disagreements) / double(a.decided()) : 0.0;
    a.ok = 2 * a.decided() >= a.images && a.agreement >= minAgreement;
    return a;
}

} // namespace leantune
