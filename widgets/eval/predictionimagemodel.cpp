#include "widgets/eval/predictionimagemodel.h"

#include "widgets/dataset/thumbnailloader.h"

#include <QDir>
#include <QFileInfo>
#include <QStringBuilder>

#include <algorithm>

namespace leantune {

namespace {

QString percent(double p)
{
    return QString::number(100.0 * p, 'f', 1) + QStringLiteral(" %");
}

} // namespace

PredictionImageModel::PredictionImageModel(QObject *parent)
    : QAbstractListModel(parent)
    , m_loader(new ThumbnailLoader({ 84, 84 }, this))
{
    m_placeholder = QPixmap(m_loader->thumbnailSize());
    m_placeholder.fill(QColor(232, 232, 236));
    connect(
        m_loader, &ThumbnailLoader::thumbnailReady, this, &PredictionImageModel::onThumbnailReady);
}

PredictionImageModel::~PredictionImageModel() = default;

void PredictionImageModel::setRows(std::shared_ptr<const PredictionsFile> file, QVector<int> rows)
{
    beginResetModel();
    if (file != m_file)
        m_loader->clear(); // keys are row numbers of one file
    m_file = std::move(file);
    m_rows = std::move(rows);
    if (m_file) {
        const QVector<Prediction> &all = m_file->rows;
        std::stable_sort(m_rows.begin(), m_rows.end(),
            [&all](int a, int b) { return all[a].confidence > all[b].confidence; });
    } else {
        m_rows.clear();
    }
    endResetModel();
}

void PredictionImageModel::clear()
{
    setRows(nullptr, {});
}

const Prediction *PredictionImageModel::prediction(int row) const
{
    if (!m_file || row < 0 || row >= m_rows.size())
        return nullptr;
    return &m_file->rows[m_rows[row]];
}

QStringList PredictionImageModel::paths() const
{
    QStringList out;
    for (int r = 0; r < m_rows.size(); ++r)
        out << prediction(r)->path;
    return out;
}

int PredictionImageModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

QVariant PredictionImageModel::data(const QModelIndex &index, int role) const
{
    const Prediction *p
        = index.isValid() && index.model() == this ? prediction(index.row()) : nullptr;
    if (!p)
        return {};
    switch (role) {
    case Qt::DecorationRole: {
        const QImage image = m_loader->thumbnail(m_rows[index.row()], p->path);
        return image.isNull() ? m_placeholder : QPixmap::fromImage(image);
    }
    case Qt::DisplayRole: {
        QStringList lines { p->label % QStringLiteral(" → ") % p->predicted };
        for (int j = 0; j < std::min(3, int(p->top.size())); ++j)
            lines << p->top[j].first % QLatin1Char(' ') % percent(p->top[j].second);
        return lines.join(QLatin1Char('\n'));
    }
    case Qt::ToolTipRole: {
        QStringList lines { QDir::toNativeSeparators(p->path),
            tr("label %1, predicted %2 (%3)").arg(p->label, p->predicted, percent(p->confidence)) };
        for (const auto &t : p->top)
            lines << t.first % QStringLiteral(": ") % percent(t.second);
        lines << tr("Double-click to open the image's folder");
        return lines.join(QLatin1Char('\n'));
    }
    case Qt::AccessibleTextRole:
        return QFileInfo(p->path).fileName();
    case PathRole:
        return p->path;
    case ConfidenceRole:
        return p->confidence;
    case FileRowRole:
        return m_rows[index.row()];
    default:
        return {};
    }
}

void PredictionImageModel::onThumbnailReady(qint64 key)
{
    const int row = int(m_rows.indexOf(int(key)));
    if (row < 0)
        return;
    const QModelIndex i = index(row);
    Q_EMIT dataChanged(i, i, { Qt::DecorationRole });
}

} // namespace leantune
