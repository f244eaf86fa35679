#pragma once

#include "metrics/predictions.h"

#include <QAbstractListModel>
#include <QPixmap>
#include <QVector>

#include <memory>

namespace leantune {

class ThumbnailLoader;

// Images of a predictions file as a list for a QListView in icon mode: a thumbnail each (decoded
// off the GUI thread by a ThumbnailLoader when the row is painted), its label, prediction and top-3
// probabilities. setRows() picks the rows to show; they are shown by falling confidence. GUI thread
// only.
class PredictionImageModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role { PathRole = Qt::UserRole + 1, ConfidenceRole, FileRowRole };

    explicit PredictionImageModel(QObject *parent = nullptr);
    ~PredictionImageModel() override;

    // ROWS index FILE's rows; FILE is shared with the caller and must not change while shown.
    void setRows(std::shared_ptr<const PredictionsFile> file, QVector<int> rows);
    void clear();
    const Prediction *prediction(int row) const;
    QStringList paths() const; // in the order shown
    ThumbnailLoader *loader() const { return m_loader; }

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;

private:
    void onThumbnailReady(qint64 key);

    std::shared_ptr<const PredictionsFile> m_file;
    QVector<int> m_rows; // file rows, by falling confidence
    ThumbnailLoader *m_loader;
    QPixmap m_placeholder;
};

} // namespace leantune
