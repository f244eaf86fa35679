#include "progressline.h"

#include <QByteArray>
#include <QStringBuilder>
#include <QtGlobal>

#include <sys/ioctl.h>
#include <unistd.h>

namespace leantune::cli {

QString progressDuration(double seconds)
{
    const qint64 s = qRound64(seconds);
    return s >= 3600
        ? QStringLiteral("%1h%2m").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'))
        : QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

QString progressEta(double secondsLeft)
{
    return QStringLiteral("ETA ")
        % (secondsLeft >= 0 ? progressDuration(secondsLeft) : QStringLiteral("--:--"));
}

QString progressBar(double fraction, int width)
{
    const int filled = qBound(0, int(fraction * width), width);
    return QLatin1Char('[') % QString(filled, QLatin1Char('='))
        % QString(width - filled, QLatin1Char(' ')) % QLatin1Char(']');
}

QString fitProgressLine(const std::vector<ProgressField> &fields, int columns)
{
    columns = qMax(columns, 1);
    std::vector<bool> kept(fields.size(), true);
    const auto join = [&] {
        QString line;
        for (size_t i = 0; i < fields.size(); ++i) {
            if (kept[i])
                line += (line.isEmpty() ? QString() : fields[i].before) % fields[i].text;
        }
        return line;
    };
    QString line = join();
    while (line.size() > columns) {
        // The least important field still shown; the later one among equals.
        int drop = -1;
        for (int i = 0; i < int(fields.size()); ++i) {
            if (kept[size_t(i)] && fields[size_t(i)].importance > 0
                && (drop < 0 || fields[size_t(i)].importance <= fields[size_t(drop)].importance))
                drop = i;
        }
        if (drop < 0)
            return line.left(columns); // only the fields that are always kept: truncate
        kept[size_t(drop)] = false;
        line = join();
    }
    return line;
}

int terminalColumns()
{
    for (const int fd : { STDOUT_FILENO, STDERR_FILENO }) {
        winsize size {};
        if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
            return size.ws_col;
    }
    bool ok = false;
    const int columns = qEnvironmentVariableIntValue("COLUMNS", &ok);
    return ok && columns > 0 ? columns : 80;
}

} // namespace leantune::cli
