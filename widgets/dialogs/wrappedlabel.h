#pragma once

class QLabel;

namespace leantune {

// A top-level layout does not grow for a word-wrapped label's extra lines, so the rows below it
// were squeezed (the run dialog's pruning preview lost its axis title once a weight file's summary
// took three lines). Reserves LABEL's lines as its minimum height at the width it is laid out at,
// and again whenever its width changes (none while it is hidden, empty or not laid out yet). Call
// it after setting the text.
void reserveWrappedLines(QLabel *label);

} // namespace leantune
