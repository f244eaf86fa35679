#pragma once

#include <QString>

#include <vector>

namespace leantune::cli {

// One field of the terminal progress line.
struct ProgressField {
    QString text;
    int importance = 0; // 0: always kept; lower values are dropped first
    QString before = QStringLiteral(" | "); // separator in front (ignored for the first field)
};

// Joins FIELDS, in order, into a line of at most COLUMNS characters: drops the least important
// fields (the later one first among equals) until the rest fits, then truncates what is left.
QString fitProgressLine(const std::vector<ProgressField> &fields, int columns);

// SECONDS as m:ss, or as 1h05m from an hour on (an ETA, an elapsed time).
QString progressDuration(double seconds);
// "ETA m:ss" for SECONDSLEFT, "ETA --:--" while they are not known (negative).
QString progressEta(double secondsLeft);
// "[=====     ]": FRACTION (0..1) of a bar of WIDTH characters between the brackets.
QString progressBar(double fraction, int width);

// Width of the terminal: TIOCGWINSZ on stdout, then on stderr, then $COLUMNS, then 80.
int terminalColumns();

} // namespace leantune::cli
